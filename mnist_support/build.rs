//! With the `torch` feature, binaries and tests find libtorch's shared
//! libraries at run time through an rpath (torch-sys' own does not reach them).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some() {
        if let Some(dir) = std::env::var_os("LIBTORCH") {
            let lib = std::path::Path::new(&dir).join("lib");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        }
    }
}
