//go:build !unix

package main

func raiseNoFile(want uint64) (uint64, error) { return want, nil }
