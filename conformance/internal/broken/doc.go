// Package broken holds deliberately defective drivers, kept as test data
// for the conformance suite: each is a real driver.Driver that wraps the
// tcp driver and adds exactly one defect, and the suite's tests check that
// the case meant to catch that defect fails and the driver is not
// certified.
package broken
