"""Writes the protobuf descriptors of TensorBoard's event files, as TensorBoard itself ships
them, for crates/cnn-tensorboard's build (prost generates the Rust types from them).

TensorBoard's wheel carries its protos compiled (`tensorboard/compat/proto/*_pb2.py`), not as
`.proto` text; this collects `event.proto` and everything it imports into one
`FileDescriptorSet`, the input `prost_build::Config::compile_fds` takes.

Run: python scripts/tensorboard/export_descriptors.py crates/cnn-tensorboard/proto/tensorboard.fds
(needs the `tensorboard` package; see scripts/verify/requirements.txt)
"""
import sys

import tensorboard
from google.protobuf import descriptor_pb2
from tensorboard.compat.proto import event_pb2


def main(out):
    fds = descriptor_pb2.FileDescriptorSet()
    seen = set()

    def add(fd):
        for dep in fd.dependencies:
            add(dep)
        if fd.name in seen:
            return
        seen.add(fd.name)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        fds.file.append(proto)

    add(event_pb2.DESCRIPTOR)
    with open(out, "wb") as f:
        f.write(fds.SerializeToString())
    print(f"{out}: {len(fds.file)} files from tensorboard {tensorboard.__version__}: "
          + ", ".join(sorted(seen)))


if __name__ == "__main__":
    main(sys.argv[1])
