module github.com/holdfast-dev/holdfast/bench

go 1.26

require github.com/holdfast-dev/holdfast v0.0.0

replace github.com/holdfast-dev/holdfast => ../
