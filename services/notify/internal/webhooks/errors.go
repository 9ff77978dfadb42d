package webhooks

import "errors"

// ErrNotFound: no endpoint or delivery with this id belongs to the user.
var ErrNotFound = errors.New("not found")

// ErrLimitReached: the user has MaxEndpoints endpoints already.
var ErrLimitReached = errors.New("webhook endpoint limit reached")

// ErrAlreadyPending: a retry was asked for a delivery that is pending.
var ErrAlreadyPending = errors.New("delivery already pending")

// ErrNotPending: the delivery is final (an attempt's repeated job).
var ErrNotPending = errors.New("delivery not pending")
