package atsim

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

func sortedInts(s []int) []int { slices.Sort(s); return s }

// hexUpper is data as upper-case hex digits.
func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// concat joins units into one.
func concat(parts ...[]byte) unit {
	var u unit
	for _, p := range parts {
		u = append(u, p...)
	}
	return u
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return sortedInts(ks)
}

// portOf is the port of "host:port", 0 if none.
func portOf(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return 0
	}
	n, _ := strconv.Atoi(addr[i+1:])
	return n
}

// hostOf is the host of "host:port".
func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	return strings.Trim(addr[:i], "[]")
}
