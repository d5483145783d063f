//! Why ptrace was refused, in one line a person can act on.
//!
//! `PTRACE_SEIZE` of our own stopped child fails for a handful of reasons, each visible in
//! `/proc`: Yama's `ptrace_scope` (2 needs `CAP_SYS_PTRACE`, 3 forbids ptrace until reboot), a
//! seccomp filter (container runtimes install one), or a container started without
//! `CAP_SYS_PTRACE`. [`gather`] reads those facts and [`explain`] picks the sentence; the
//! choice is a pure function so every branch is tested.

/// What `/proc` says about this process's right to trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// `/proc/sys/kernel/yama/ptrace_scope`, when Yama is built in.
    pub(crate) yama_scope: Option<u32>,
    /// The `Seccomp:` mode of `/proc/self/status` (0 none, 1 strict, 2 filter).
    pub(crate) seccomp: Option<u32>,
    /// Whether `CapEff` holds `CAP_SYS_PTRACE`.
    pub(crate) cap_sys_ptrace: Option<bool>,
    /// Whether this looks like a container (`/.dockerenv`, `/run/.containerenv`, the
    /// `container` variable, or a container cgroup of process 1).
    pub(crate) in_container: bool,
}

/// `CAP_SYS_PTRACE`'s bit in the capability sets.
const CAP_SYS_PTRACE: u32 = 19;

/// The sentence for a refused `PTRACE_SEIZE` that failed with `errno` (its name, `EPERM`).
pub(crate) fn explain(facts: &Facts, errno: &str) -> String {
    let has_cap = facts.cap_sys_ptrace == Some(true);
    match facts.yama_scope {
        Some(3) => {
            return "kernel.yama.ptrace_scope is 3, which forbids ptrace for everyone until \
                    the next reboot"
                .to_owned();
        }
        Some(2) if !has_cap => {
            return "kernel.yama.ptrace_scope is 2, which allows ptrace only with \
                    CAP_SYS_PTRACE: run as root, or lower it with `sysctl \
                    kernel.yama.ptrace_scope=1`"
                .to_owned();
        }
        _ => {}
    }
    if facts.seccomp.is_some_and(|mode| mode != 0) {
        return format!(
            "a seccomp filter on this process refuses ptrace ({errno}; Seccomp: {} in \
             /proc/self/status); in a container, start it with --cap-add=SYS_PTRACE or \
             --security-opt seccomp=unconfined",
            facts.seccomp.unwrap_or(0)
        );
    }
    if facts.in_container && !has_cap {
        return format!(
            "ptrace failed with {errno} in a container without CAP_SYS_PTRACE; start it with \
             --cap-add=SYS_PTRACE"
        );
    }
    format!(
        "ptrace(PTRACE_SEIZE) failed with {errno} although Yama and seccomp allow it; is \
         this process already being traced, or run under a security module (SELinux, \
         AppArmor) that denies ptrace?"
    )
}

/// Reads the facts from `/proc` and the file system of this machine.
pub(crate) fn gather() -> Facts {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let yama_scope = read("/proc/sys/kernel/yama/ptrace_scope").and_then(|s| s.trim().parse().ok());
    let status = read("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let seccomp = field("Seccomp:").and_then(|v| v.parse().ok());
    let cap_sys_ptrace = field("CapEff:")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .map(|caps| caps & (1 << CAP_SYS_PTRACE) != 0);
    let cgroup = read("/proc/1/cgroup").unwrap_or_default();
    let in_container = std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
        || std::env::var_os("container").is_some()
        || ["docker", "kubepods", "containerd", "lxc", "libpod"]
            .iter()
            .any(|word| cgroup.contains(word));
    Facts {
        yama_scope,
        seccomp,
        cap_sys_ptrace,
        in_container,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cause gives its own sentence, and the most specific cause wins.
    #[test]
    fn each_cause_has_its_sentence() {
        let base = Facts {
            yama_scope: Some(1),
            seccomp: Some(0),
            cap_sys_ptrace: Some(false),
            in_container: false,
        };
        let says = |facts: Facts, needle: &str| {
            let text = explain(&facts, "EPERM");
            assert!(text.contains(needle), "{text}");
            assert!(!text.contains('\n'), "one line: {text}");
        };
        says(
            Facts {
                yama_scope: Some(3),
                ..base.clone()
            },
            "ptrace_scope is 3",
        );
        says(
            Facts {
                yama_scope: Some(2),
                ..base.clone()
            },
            "ptrace_scope is 2",
        );
        // Scope 2 with the capability is not the cause.
        says(
            Facts {
                yama_scope: Some(2),
                cap_sys_ptrace: Some(true),
                ..base.clone()
            },
            "although Yama",
        );
        says(
            Facts {
                seccomp: Some(2),
                ..base.clone()
            },
            "seccomp filter",
        );
        says(
            Facts {
                in_container: true,
                ..base.clone()
            },
            "container without CAP_SYS_PTRACE",
        );
        says(base, "although Yama and seccomp allow it");
    }

    /// Gathering never fails, whatever this machine is.
    #[test]
    fn gathering_reads_this_machine() {
        let facts = gather();
        if let Some(scope) = facts.yama_scope {
            assert!(scope <= 3);
        }
    }
}
