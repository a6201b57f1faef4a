//go:build !race

package main

// raceEnabled tells tests that count allocations that the race detector is
// on: it moves some values from the stack to the heap.
const raceEnabled = false
