// Package toxiproxycompat proves that holdfast's chaos proxy (package toxic)
// is compatible with Toxiproxy v2: its tests drive the chaos API with the
// real Toxiproxy Go client and check the toxics' effects on real loopback
// connections. It is a separate module so that the main go.mod does not
// depend on Toxiproxy.
package toxiproxycompat
