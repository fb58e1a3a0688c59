//go:build !race

package singleflight

const raceEnabled = false
