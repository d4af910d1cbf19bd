//! Compiles the vendored official `proto/onnx.proto` (ONNX 1.23.2, Apache-2.0) into Rust types
//! with prost, using protox (a protobuf compiler in Rust), so no `protoc` binary is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors = protox::compile(["proto/onnx.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
