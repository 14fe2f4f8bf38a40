package main

import "github.com/ferry-proxy/ferry/filterchain"

// registry lists the filter types a configuration may name. Every filter
// is registered here, explicitly; none registers itself.
func registry() *filterchain.Registry {
	return filterchain.NewRegistry()
}
