//! `mnist data`: the split's shapes and class counts.

use mnist_support::data::Split;

use crate::AnyResult;

pub fn data(json: bool) -> AnyResult<()> {
    let split = Split::load()?;
    let summary = split.summary();
    if json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
        println!();
        print!("{}", split.class_frequency());
    }

    Ok(())
}
