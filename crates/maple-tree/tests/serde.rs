//! `serde` support: trees round-trip through JSON as `(range, value)` pairs, and malformed
//! input (inverted or overlapping ranges) is an error, never a panic.

use maple_tree::{MapleTree, Range};

#[test]
fn trees_round_trip_through_json() {
    let numbers: MapleTree<u64> = (0..2_000u64)
        .map(|i| (i * 10..i * 10 + 5, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let json = serde_json::to_string(&numbers).unwrap();
    let back: MapleTree<u64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, numbers);
    back.check_invariants().unwrap();

    let words: MapleTree<String> = [(0..=u64::MAX, String::from("all"))].into_iter().collect();
    let json = serde_json::to_string(&words).unwrap();
    assert_eq!(json, r#"[[[0,18446744073709551615],"all"]]"#);
    assert_eq!(
        serde_json::from_str::<MapleTree<String>>(&json).unwrap(),
        words
    );

    let empty = MapleTree::<u8>::new();
    assert_eq!(serde_json::to_string(&empty).unwrap(), "[]");
    assert!(
        serde_json::from_str::<MapleTree<u8>>("[]")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn pairs_in_any_order_make_the_same_tree() {
    let tree: MapleTree<u8> = serde_json::from_str("[[[20,29],2],[[0,9],1]]").unwrap();
    assert_eq!(
        tree.iter().collect::<Vec<_>>(),
        [
            (Range::new(0, 9).unwrap(), 1),
            (Range::new(20, 29).unwrap(), 2)
        ]
    );
}

#[test]
fn malformed_input_is_an_error() {
    let inverted = serde_json::from_str::<MapleTree<u8>>("[[[9,0],1]]").unwrap_err();
    assert!(inverted.to_string().contains("first > last"), "{inverted}");
    let overlap = serde_json::from_str::<MapleTree<u8>>("[[[0,9],1],[[5,15],2]]").unwrap_err();
    assert!(
        overlap
            .to_string()
            .contains("entry 1: range 5..=15 overlaps"),
        "{overlap}"
    );
    assert!(serde_json::from_str::<MapleTree<u8>>(r#"[[[0,9],"x"]]"#).is_err());
    assert!(serde_json::from_str::<Range>("[1,0]").is_err());
    assert_eq!(
        serde_json::from_str::<Range>("[1,1]").unwrap(),
        Range::single(1)
    );
}
