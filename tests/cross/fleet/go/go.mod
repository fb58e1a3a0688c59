module singleflight.dev/tests/cross/fleet/go

go 1.24.0

require github.com/singleflight/singleflight/bindings/go v0.0.0

replace github.com/singleflight/singleflight/bindings/go => ../../../../bindings/go
