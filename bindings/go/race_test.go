//go:build race

package singleflight

const raceEnabled = true
