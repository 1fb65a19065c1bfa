module templategolden

go 1.26.0

require github.com/Masterminds/sprig v2.22.0+incompatible // the version Kanister pins

// sprig v2.22.0 has no go.mod: `go mod tidy` resolves its dependencies to their latest
// compatible versions (goutils v1.1.1, semver v1.5.0, mergo v0.3.16, …), which reproduce
// every expectation, except xstrings: sprig allows ^1.2, but camelcase "x" is "" in v1.2.0
// and "X" from v1.2.1, and later versions split snakecase differently ("userID2FA" →
// "user_id2_fa") and start camelcase lower-case, so it is pinned to v1.2.0, the behaviour
// the Rust port (src/template/golibs/xstrings.rs) follows.

require (
	github.com/Masterminds/goutils v1.1.1 // indirect
	github.com/Masterminds/semver v1.5.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/huandu/xstrings v1.2.0 // indirect
	github.com/imdario/mergo v0.3.16 // indirect
	github.com/mitchellh/copystructure v1.2.0 // indirect
	github.com/mitchellh/reflectwalk v1.0.2 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
)
