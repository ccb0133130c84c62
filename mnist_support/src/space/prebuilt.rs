//! `mnist space --prebuilt`: a server binary built on this machine runs in the
//! Space's image only if it is a Linux x86-64 program (an executable ELF file
//! for the System V or GNU ABI) that needs only the shared libraries the image
//! has (glibc's, libgcc's, libstdc++'s) and no newer glibc or libstdc++ than
//! the image's (Debian 13: glibc 2.41, GCC 14's `GLIBCXX_3.4.33`). Checked by
//! reading the ELF header, its dynamic section and its version needs with the
//! `object` crate.

use object::elf;
use object::read::elf::{Dyn, FileHeader, SectionHeader};
use object::{Endianness, FileKind};

use crate::error::{Error, Result};

/// The glibc of the Space's runtime image (`debian:trixie-slim`).
pub const IMAGE_GLIBC: (u32, u32) = (2, 41);

/// The libstdc++ of the Space's runtime image (GCC 14): its newest
/// `GLIBCXX_3.4.N` version.
pub const IMAGE_GLIBCXX: (u32, u32, u32) = (3, 4, 33);

/// The shared libraries of the Space's runtime image (`debian:trixie-slim`)
/// a binary may need: glibc's, libgcc's and libstdc++'s (apt, which the
/// image keeps, needs libstdc++). Anything else (libtorch, OpenSSL, …) is not
/// there.
pub const IMAGE_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "libgcc_s.so.1",
    "libstdc++.so.6",
];

/// What a prebuilt binary needs of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryNeeds {
    /// The highest `GLIBC_x.y` version it links against (`None`: no glibc,
    /// such as a static musl build).
    pub glibc: Option<(u32, u32)>,
    /// The highest `GLIBCXX_x.y.z` version (`None`: no libstdc++).
    pub glibcxx: Option<(u32, u32, u32)>,
    /// The shared libraries it names (`DT_NEEDED`), in order.
    pub libraries: Vec<String>,
}

/// Refuses, with the reason and the fix, a binary the Space's image cannot run.
pub fn check(bytes: &[u8], what: &str) -> Result<BinaryNeeds> {
    let refuse = |reason: String| {
        Error::Process {
        what: format!("{what} cannot run in the Space's image (Debian 13, Linux x86-64, glibc 2.41)"),
        reason: format!(
            "{reason}\nfix: leave out --prebuilt: the Space then builds mnist-serve from the crate's source"
        ),
    }
    };
    let kind = FileKind::parse(bytes).map_err(|_| refuse("it is not an executable file".into()))?;
    if kind != FileKind::Elf64 {
        let looks = match kind {
            FileKind::MachO64 | FileKind::MachO32 | FileKind::MachOFat32 | FileKind::MachOFat64 => {
                "a macOS (Mach-O) program"
            }
            FileKind::Pe32 | FileKind::Pe64 => "a Windows (PE) program",
            FileKind::Elf32 => "a 32-bit ELF program",
            _ => "not a 64-bit Linux (ELF) program",
        };
        return Err(refuse(format!("it is {looks}")));
    }
    let header = elf::FileHeader64::<Endianness>::parse(bytes)
        .map_err(|e| refuse(format!("its ELF header is unreadable: {e}")))?;
    let endian = header
        .endian()
        .map_err(|e| refuse(format!("its ELF header is unreadable: {e}")))?;
    // A program (fixed-address or position-independent), not an object
    // file, a shared library's core dump or the like.
    let kind = header.e_type(endian);
    if kind != elf::ET_EXEC && kind != elf::ET_DYN {
        let looks = match kind {
            elf::ET_REL => "an object file (.o), not a linked program",
            elf::ET_CORE => "a core dump",
            _ => "not an executable ELF file",
        };
        return Err(refuse(format!("it is {looks}")));
    }
    // Linux runs the System V and GNU ABIs; FreeBSD's and others' binaries are refused.
    let abi = header.e_ident().os_abi;
    if abi != elf::ELFOSABI_SYSV && abi != elf::ELFOSABI_GNU {
        return Err(refuse(format!(
            "it is built for another operating system (ELF OS ABI {abi}{}), not Linux",
            if abi == elf::ELFOSABI_FREEBSD {
                ", FreeBSD"
            } else {
                ""
            }
        )));
    }
    let machine = header.e_machine(endian);
    if machine != elf::EM_X86_64 {
        return Err(refuse(format!(
            "it is built for ELF machine {machine} ({}), not x86-64",
            machine_name(machine)
        )));
    }
    let sections = header
        .sections(endian, bytes)
        .map_err(|e| refuse(format!("its sections are unreadable: {e}")))?;
    let mut libraries = Vec::new();
    let unreadable =
        |e: object::read::Error| refuse(format!("its dynamic section is unreadable: {e}"));
    for section in sections.iter() {
        let Some((entries, link)) = section.dynamic(endian, bytes).map_err(unreadable)? else {
            continue;
        };
        let strings = sections.strings(endian, bytes, link).map_err(unreadable)?;
        for entry in entries {
            if entry.tag(endian) == elf::DT_NEEDED {
                let name = entry.string(endian, strings).map_err(unreadable)?;
                libraries.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    let mut glibc: Option<(u32, u32)> = None;
    let mut glibcxx: Option<(u32, u32, u32)> = None;
    let unreadable =
        |e: object::read::Error| refuse(format!("its version needs are unreadable: {e}"));
    for section in sections.iter() {
        let Some((mut needs, link)) = section.gnu_verneed(endian, bytes).map_err(unreadable)?
        else {
            continue;
        };
        let strings = sections.strings(endian, bytes, link).map_err(unreadable)?;
        while let Some((_, mut aux)) = needs.next().map_err(unreadable)? {
            while let Some(entry) = aux.next().map_err(unreadable)? {
                let name = entry.name(endian, strings).map_err(unreadable)?;
                if let Some(v) = glibc_version(name) {
                    glibc = glibc.max(Some(v));
                }
                if let Some(v) = glibcxx_version(name) {
                    glibcxx = glibcxx.max(Some(v));
                }
            }
        }
    }
    if let Some(v) = glibcxx {
        if v > IMAGE_GLIBCXX {
            let i = IMAGE_GLIBCXX;
            return Err(refuse(format!(
                "it needs libstdc++'s GLIBCXX_{}.{}.{}, newer than the image's GLIBCXX_{}.{}.{} (it was built with a newer GCC)",
                v.0, v.1, v.2, i.0, i.1, i.2
            )));
        }
    }
    if let Some(v) = glibc {
        if v > IMAGE_GLIBC {
            return Err(refuse(format!(
                "it needs glibc {}.{}, newer than the image's {}.{} (it was built on a newer Linux)",
                v.0, v.1, IMAGE_GLIBC.0, IMAGE_GLIBC.1
            )));
        }
    }
    let missing: Vec<&str> = libraries
        .iter()
        .map(String::as_str)
        .filter(|l| !IMAGE_LIBRARIES.contains(l))
        .collect();
    if !missing.is_empty() {
        return Err(refuse(format!(
            "it needs {}, which the image does not have{}",
            missing.join(", "),
            if missing
                .iter()
                .any(|l| l.contains("torch") || l.contains("c10"))
            {
                " (libtorch: build mnist-serve alone, `--no-default-features --features serve`)"
            } else {
                ""
            }
        )));
    }
    Ok(BinaryNeeds {
        glibc,
        glibcxx,
        libraries,
    })
}

/// `GLIBCXX_3.4.33` → (3, 4, 33); other version names → `None`.
fn glibcxx_version(name: &[u8]) -> Option<(u32, u32, u32)> {
    let rest = std::str::from_utf8(name).ok()?.strip_prefix("GLIBCXX_")?;
    let mut parts = rest.split('.').map(|p| p.parse().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// `GLIBC_2.34` → (2, 34); other version names → `None`.
fn glibc_version(name: &[u8]) -> Option<(u32, u32)> {
    let rest = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

fn machine_name(machine: u16) -> &'static str {
    match machine {
        elf::EM_AARCH64 => "arm64",
        elf::EM_ARM => "32-bit ARM",
        elf::EM_386 => "x86",
        elf::EM_RISCV => "RISC-V",
        elf::EM_PPC64 => "POWER",
        _ => "another processor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_parse_and_order() {
        assert_eq!(glibc_version(b"GLIBC_2.34"), Some((2, 34)));
        assert_eq!(glibc_version(b"GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version(b"GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version(b"GCC_3.0"), None);
        assert!(Some((2, 9)) < Some((2, 41)));
        assert_eq!(glibcxx_version(b"GLIBCXX_3.4.33"), Some((3, 4, 33)));
        assert_eq!(glibcxx_version(b"GLIBCXX_3.4"), Some((3, 4, 0)));
        assert_eq!(glibcxx_version(b"GLIBCXX_PRIVATE"), None);
        assert!(glibcxx_version(b"GLIBCXX_3.4.34") > Some(IMAGE_GLIBCXX));
        assert!(glibcxx_version(b"GLIBCXX_3.4.9") < Some(IMAGE_GLIBCXX));
    }

    #[test]
    fn only_linux_programs_pass_the_elf_type_and_abi_checks() {
        // This test's own binary: a Linux x86-64 program (ET_DYN or ET_EXEC),
        // which with libtorch built in needs libraries the image lacks.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            let torch = cfg!(feature = "torch");
            match check(&exe, "this test") {
                Ok(needs) => assert!(
                    !torch && needs.libraries.iter().any(|l| l == "libc.so.6"),
                    "{needs:?}"
                ),
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        torch && e.contains("libtorch") && e.contains("--features serve"),
                        "{e}"
                    );
                }
            }
        }
        const E_TYPE: usize = 16;
        const EI_OSABI: usize = 7;
        let mut object = exe.clone();
        object[E_TYPE..E_TYPE + 2].copy_from_slice(&elf::ET_REL.to_le_bytes());
        let e = check(&object, "x").unwrap_err().to_string();
        assert!(
            e.contains("object file") && e.contains("leave out --prebuilt"),
            "{e}"
        );
        let mut core = exe.clone();
        core[E_TYPE..E_TYPE + 2].copy_from_slice(&elf::ET_CORE.to_le_bytes());
        assert!(check(&core, "x")
            .unwrap_err()
            .to_string()
            .contains("core dump"));
        let mut freebsd = exe;
        freebsd[EI_OSABI] = elf::ELFOSABI_FREEBSD;
        let e = check(&freebsd, "x").unwrap_err().to_string();
        assert!(e.contains("FreeBSD") && e.contains("not Linux"), "{e}");
    }

    #[test]
    fn non_linux_files_are_refused_with_the_reason() {
        let macho = [0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1, 3, 0, 0, 0, 2, 0, 0, 0]
            .iter()
            .copied()
            .chain(std::iter::repeat(0).take(64))
            .collect::<Vec<u8>>();
        let e = check(&macho, "mnist-serve").unwrap_err().to_string();
        assert!(
            e.contains("macOS") && e.contains("leave out --prebuilt"),
            "{e}"
        );
        let e = check(b"#!/bin/sh\necho hi\n", "x").unwrap_err().to_string();
        assert!(
            e.contains("not an executable") || e.contains("not a 64-bit"),
            "{e}"
        );
    }
}
