module github.com/singleflight/singleflight/bindings/go

go 1.24.0

require (
	golang.org/x/sync v0.17.0
	resenje.org/singleflight v0.4.3
)
