module github.com/holdfast-dev/holdfast/test/toxiproxycompat

go 1.26.0

replace github.com/holdfast-dev/holdfast => ../..

require (
	github.com/Shopify/toxiproxy/v2 v2.5.0
	github.com/holdfast-dev/holdfast v0.0.0-00010101000000-000000000000
)
