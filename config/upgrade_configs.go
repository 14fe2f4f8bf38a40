package config

import (
	"strconv"
	"strings"
)

// UpgradeConfig allows or refuses one HTTP/1.1 Upgrade protocol (Envoy's
// upgrade_configs; MOSN has none), on a proxy filter or on a route.
//
// A listener forwards "websocket" unless one of its proxy filter's
// entries disables it, and any other token only when an entry enables it.
// A route's entry for a token overrides the listener's, either way
// (Envoy's precedence). A token nobody allows is dropped with the other
// hop-by-hop fields, and the request goes upstream as plain HTTP.
type UpgradeConfig struct {
	// UpgradeType is the protocol token of the Upgrade field, compared
	// case-insensitively ("websocket").
	UpgradeType string `json:"upgrade_type,omitempty" yaml:"upgrade_type,omitempty" note:"an Upgrade protocol token, case-insensitive; CONNECT is refused (no CONNECT tunnelling)"`
	// Enabled allows the upgrade; absent means true (Envoy's default).
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty" note:"absent means true"`
}

// On reports whether the entry allows its upgrade. Any goroutine.
func (u *UpgradeConfig) On() bool { return u.Enabled == nil || *u.Enabled }

// upgradeConfigs checks a list of upgrade_configs at path.
func (v *validator) upgradeConfigs(ucs []UpgradeConfig, path string) {
	seen := map[string]bool{}
	for i, u := range ucs {
		p := index(path, i) + ".upgrade_type"
		t := strings.ToLower(u.UpgradeType)
		switch {
		case u.UpgradeType == "":
			v.p.add(p, "required")
		case t == "connect":
			v.p.add(p, "CONNECT tunnelling is not supported: CONNECT requests are answered 501")
		case !validToken(u.UpgradeType):
			v.p.add(p, "invalid protocol token "+strconv.Quote(u.UpgradeType))
		case seen[t]:
			v.p.add(p, strconv.Quote(u.UpgradeType)+" is listed twice")
		}
		seen[t] = true
	}
}
