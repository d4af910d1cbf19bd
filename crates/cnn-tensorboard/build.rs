//! Generates the Rust types of TensorBoard's event files from TensorBoard's own protobuf
//! descriptors (`proto/tensorboard.fds`, written by `scripts/tensorboard/export_descriptors.py`
//! from the `tensorboard` package): `Event`, `Summary`, `HistogramProto`, ...

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/tensorboard.fds");
    let bytes = std::fs::read("proto/tensorboard.fds")?;
    let descriptors = prost_types::FileDescriptorSet::decode(&bytes[..])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
