//go:build !linux

package activities

// protectEnviron does nothing off Linux: run the worker in a Linux container to keep
// blueprint steps from reading its environment.
func protectEnviron() error { return nil }
