//! The integration tests, in one binary so that libtorch, polars and axum
//! are linked once. Each module tests one part, the way a user meets it.

mod common;

mod bench_inputs;
mod browser;
mod cli;
mod explain;
mod fetch;
mod figures;
mod gate;
mod idx;
mod knn_svm;
mod layers;
mod map;
mod metrics;
mod models;
mod nets;
mod notebooks;
mod preprocess;
mod real_data;
mod scale;
mod serve;
mod serve_attacks;
mod serve_workers;
mod space;
mod space_debian;
mod summary;
