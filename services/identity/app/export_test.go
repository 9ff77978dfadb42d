package app

import "context"

// HoldHashSlots takes every password-hashing slot of a until the returned
// function is called, as a burst of concurrent logins would.
func (a *App) HoldHashSlots() (release func()) {
	var held []func()
	for range a.cfg.hashConcurrency() {
		r, err := a.hasher.Acquire(context.Background())
		if err != nil {
			panic(err) // nothing else holds them in the tests that call this
		}
		held = append(held, r)
	}
	return func() {
		for _, r := range held {
			r()
		}
	}
}
