# Placeholder: the container image is built in the packaging issue.
# Until then, run the binary directly: `cargo run --release -- simulate`.
FROM scratch
