# Sourced by scripts/format and scripts/test: the tracked sources of each
# language, NUL-separated, relative to $SF_ROOT (git ls-files, so build
# trees and caches never count).
sf_c_sources() { git -C "$SF_ROOT" ls-files -z -- '*.c' '*.cc' '*.cpp' '*.h' '*.hpp'; }
sf_go_sources() { git -C "$SF_ROOT" ls-files -z -- '*.go'; }
