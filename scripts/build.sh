# How every script configures and builds, so that the demo, the tests and the fuzzers share one
# configuration per build directory and ccache (CMakeLists.txt) shares objects across clones.
# Sourced by scripts/demo, scripts/test and scripts/fuzz.
#   configure_release DIR [TYPE]   g++, TYPE (default Release), warnings are errors
#   configure_sanitize DIR         clang, ASan + LSan + UBSan, and the fuzz targets (tests/fuzz)
#   build DIR [TARGET...]          every target, or only these

configure_release() {
  local dir=$1 type=${2:-Release}
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DCLUSTERD_WERROR=ON >/dev/null
}

# clang builds the sanitized tree in about half g++'s time, and it is what libFuzzer needs: the
# fuzz targets link the same objects as the sanitized tests.
configure_sanitize() {
  local dir=$1
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Sanitize -DCLUSTERD_WERROR=ON \
    -DCLUSTERD_FUZZ=ON >/dev/null
}

build() {
  local dir=$1
  shift
  local targets=()
  (($# > 0)) && targets=(--target "$@")
  cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
}
