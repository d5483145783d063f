//! The guest-physical memory map of a virtual machine monitor.
//!
//! A VMM tracks what backs each guest-physical address: RAM regions (with the host memory that
//! backs them), firmware ROM, and MMIO windows of emulated devices, with holes between them. It
//! needs to:
//!
//! - place regions at fixed addresses (the firmware's layout), refusing overlaps;
//! - allocate MMIO windows for devices as they are plugged in: a free run of the right size and
//!   alignment inside the MMIO aperture, highest first (as firmware assigns PCI BARs);
//! - answer, on every exit for an MMIO access, which region holds a faulting address;
//! - report the map (an e820-style table) and its holes;
//! - unplug a device and reuse its window.
//!
//! An allocation tree does all of it: `insert_range` for fixed regions, `alloc_range_for` with
//! an aligned [`GapRequest`] for windows, `get_range` for exits, `iter` and `gaps` for the
//! report, `erase` for unplugging. Readers (vCPU threads handling exits) never block the writer
//! (the device-model thread) and never see a half-made change.
//!
//! Run with `cargo run -p maple-tree --example vmm_memory_map`.

use maple_tree::{GapRequest, MapleTree, Range};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// What backs a range of guest-physical addresses.
#[derive(Clone, Debug, PartialEq)]
enum Region {
    /// Guest RAM, backed by host memory starting at `host`.
    Ram { host: u64 },
    /// Firmware, read-only.
    Rom { name: &'static str },
    /// An emulated device's registers: accesses exit to the VMM.
    Mmio { device: String },
}

/// The MMIO aperture below 4 GiB, where 32-bit device windows go.
const MMIO_LOW: Range = match Range::new(3 * GIB, 4 * GIB - 16 * MIB - 1) {
    Some(r) => r,
    None => panic!("a valid aperture"),
};

/// Plugs in a device: finds the highest free window of `size` bytes, aligned to its size as PCI
/// BARs are, inside the MMIO aperture, and maps it there.
fn plug(map: &MapleTree<Region>, device: &str, size: u64) -> Range {
    let request = GapRequest::new(MMIO_LOW, size).align(size).top_down();
    let region = Region::Mmio {
        device: device.to_string(),
    };
    let start = map
        .lock()
        .alloc_range_for(request, region)
        .unwrap_or_else(|e| panic!("no window of {size:#x} bytes for {device}: {e}"));
    Range::new(start, start + size - 1).expect("a window of at least one byte")
}

/// What a vCPU exit for an access at `gpa` hits.
fn exit(map: &MapleTree<Region>, gpa: u64) -> String {
    let guard = map.read();
    match guard.get_range(gpa) {
        Some((range, region)) => match &*region {
            Region::Mmio { device } => {
                format!("{device} register {:#x}", gpa - range.first())
            }
            Region::Ram { host } => format!("RAM, host {:#x}", host + (gpa - range.first())),
            Region::Rom { name } => format!("write to ROM {name} ignored"),
        },
        None => String::from("unassigned: the guest reads all ones"),
    }
}

fn main() {
    let map = MapleTree::new_alloc();

    // The fixed layout: RAM below the aperture and above 4 GiB, firmware at the top of 4 GiB.
    let fixed = [
        (
            Range::new(0, 640 * KIB - 1),
            Region::Ram {
                host: 0x7f00_0000_0000,
            },
        ),
        (
            Range::new(MIB, 3 * GIB - 1),
            Region::Ram {
                host: 0x7f00_0010_0000,
            },
        ),
        (
            Range::new(4 * GIB - 16 * MIB, 4 * GIB - 1),
            Region::Rom { name: "OVMF" },
        ),
        (
            Range::new(4 * GIB, 6 * GIB - 1),
            Region::Ram {
                host: 0x7f00_c000_0000,
            },
        ),
    ];
    for (range, region) in fixed {
        map.insert_range(range.expect("valid"), region).unwrap();
    }
    // Overlapping regions are refused, with the region handed back.
    let clash = map.insert_range(2 * GIB..3 * GIB, Region::Rom { name: "oops" });
    assert!(clash.is_err());

    // Devices take windows top-down, each aligned to its size.
    let net = plug(&map, "virtio-net", 16 * KIB);
    let blk = plug(&map, "virtio-blk", 16 * KIB);
    let gpu = plug(&map, "gpu", 256 * MIB);
    let nvme = plug(&map, "nvme", 16 * KIB);
    for window in [net, blk, gpu, nvme] {
        assert!(MMIO_LOW.contains(window.first()) && MMIO_LOW.contains(window.last()));
        assert_eq!(
            window.first() % window.len() as u64,
            0,
            "aligned to its size"
        );
    }
    assert_eq!(gpu.first(), 3 * GIB + 512 * MIB);

    // vCPU exits look the address up.
    assert_eq!(exit(&map, blk.first() + 0x40), "virtio-blk register 0x40");
    assert_eq!(exit(&map, 0x1000), "RAM, host 0x7f0000001000");
    assert_eq!(exit(&map, 4 * GIB - 8), "write to ROM OVMF ignored");
    assert_eq!(
        exit(&map, 700 * KIB),
        "unassigned: the guest reads all ones"
    );

    println!("guest-physical memory map:");
    for (range, region) in &map {
        println!("  {range:#018x}  {region:x?}");
    }
    let holes: Vec<Range> = map.gaps(..6 * GIB).collect();
    println!("holes below 6 GiB:");
    for hole in &holes {
        println!("  {hole:#018x}  ({} KiB)", hole.len() / u128::from(KIB));
    }
    assert_eq!(holes[0], Range::new(640 * KIB, MIB - 1).unwrap());

    // Unplugging frees the window; the next device of that size takes the same one.
    assert_eq!(
        map.erase(net.first()),
        Some(Region::Mmio {
            device: "virtio-net".into()
        })
    );
    let again = plug(&map, "virtio-net (hot-plugged again)", 16 * KIB);
    assert_eq!(again, net);
    map.check_invariants().unwrap();
    println!(
        "{} regions, {} holes; virtio-net re-plugged at {again:#x}",
        map.len(),
        holes.len()
    );
}

#[test]
fn runs() {
    main();
}
