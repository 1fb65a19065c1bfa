// Command template-golden regenerates the expected outputs of the golden template cases of
// crates/kanister (tests/data/template-golden.json): it renders every case's template the
// way Kanister does — Go's text/template, template.New("config"),
// Option("missingkey=error"), Funcs(ksprig.TxtFuncMap()) — and writes the outputs back
// into the fixture.
//
// Usage: go run . ../../tests/data/template-golden.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/template"
	// Named zones (the "zoned" cases) come from the system tz database, else from this
	// embedded copy, so the program runs on a machine without one.
	_ "time/tzdata"

	"github.com/Masterminds/sprig"

	"templategolden/param"
)

// fixture is tests/data/template-golden.json. Data sets are kept as raw JSON, so rewriting
// the file changes nothing but the expectations (and whitespace, to Go's indentation).
type fixture struct {
	About []string                   `json:"about"`
	Data  map[string]json.RawMessage `json:"data"`
	Cases []goldenCase               `json:"cases"`
}

type goldenCase struct {
	// Data names the data set: a key of fixture.Data, or "params" (param.Example()).
	Data string `json:"data"`
	// Zoned cases need the system tz database (dateInZone with named zones).
	Zoned    bool   `json:"zoned,omitempty"`
	Template string `json:"template"`
	// Expected is the output, "PARSEERR <error>" or "EXECERR <error>".
	Expected string `json:"expected"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run . ../../tests/data/template-golden.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "template-golden:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sets := map[string]interface{}{"params": param.Example()}
	for name, text := range fx.Data {
		v, err := decodeData(text)
		if err != nil {
			return fmt.Errorf("data set %s: %w", name, err)
		}
		sets[name] = v
	}
	// The cases read this variable and expect it unset.
	if err := os.Unsetenv("KT_NOPE"); err != nil {
		return err
	}
	funcs := txtFuncMap()
	changed := 0
	for i := range fx.Cases {
		c := &fx.Cases[i]
		data, ok := sets[c.Data]
		if !ok {
			return fmt.Errorf("case %d (%q): unknown data set %q", i, c.Template, c.Data)
		}
		got := render(c.Template, data, funcs)
		if got != c.Expected {
			changed++
			fmt.Printf("case %d changed: %q\n   was %q\n   now %q\n", i, c.Template, c.Expected, got)
			c.Expected = got
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(fx); err != nil {
		return err
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%d cases, %d expectations changed\n", len(fx.Cases), changed)
	return nil
}

// render is what Kanister does with a template argument; errors are prefixed with the
// phase that failed, as the Rust tests print them.
func render(src string, data interface{}, funcs template.FuncMap) string {
	t, err := template.New("config").Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return "PARSEERR " + err.Error()
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "EXECERR " + err.Error()
	}
	return b.String()
}

// decodeData decodes a data set as the Rust side's from_json does: objects as
// map[string]interface{}, integers as int (uint above the int range), other numbers as
// float64.
func decodeData(text []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return convertNumbers(v), nil
}

func convertNumbers(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(i)
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return uint(u)
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// txtFuncMap is ksprig.TxtFuncMap() (Kanister's pkg/ksprig): sprig v2.22.0's TxtFuncMap with
// the FIPS-sensitive functions replaced. ksprig only replaces functions sprig defines, so
// of its list (bcrypt, derivePassword, genPrivateKey, htpasswd) only derivePassword and
// genPrivateKey apply to v2.22.0.
func txtFuncMap() template.FuncMap {
	m := sprig.TxtFuncMap()
	genPrivateKey := m["genPrivateKey"].(func(string) string)
	m["derivePassword"] = func(counter uint32, passwordType, password, user, site string) (string, error) {
		return "", fipsError("derivePassword")
	}
	m["genPrivateKey"] = func(typ string) (string, error) {
		switch typ {
		case "rsa", "ecdsa", "ed25519":
			return genPrivateKey(typ), nil
		}
		return "", fipsError("genPrivateKey for " + typ)
	}
	return m
}

// fipsError is ksprig's UnsupportedSprigUsageErr.
func fipsError(usage string) error {
	return errors.New("sprig usage of '" + usage + "' is not allowed by kanister as it is not FIPS compatible")
}
