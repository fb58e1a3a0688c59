module singleflight.dev/bindings/go/bench/fleetpeers

go 1.25.0

require (
	github.com/redis/rueidis v1.0.79
	github.com/singleflight/singleflight/bindings/go v0.0.0
)

require golang.org/x/sys v0.47.0 // indirect

replace github.com/singleflight/singleflight/bindings/go => ../..
