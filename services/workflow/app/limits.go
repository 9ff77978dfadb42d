package app

import "github.com/meterflow/meterflow/services/workflow/internal/workflow"

// The service's size limits, for the end-to-end tests in e2e/workflow
// (ADR 0004), which hold the service to them and cannot import its
// internal packages.
const (
	// MaxInputBytes bounds a run's input (the contract's 256 KiB).
	MaxInputBytes = workflow.MaxInputBytes
	// MaxListValueBytes is the largest input or output a run listing carries.
	MaxListValueBytes = workflow.MaxListValueBytes
)
