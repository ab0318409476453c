//go:build !linux

package workerapp

// ephemeralFS reports nothing outside Linux.
func ephemeralFS(string) string { return "" }
