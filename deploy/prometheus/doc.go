// Package prometheus holds no code: it is the home of the example
// Prometheus alerting rules for the gateway's provider metrics
// (vasagw-rules.yaml), their promtool unit tests, and the Go test that
// checks both.
package prometheus
