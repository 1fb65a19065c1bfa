//! Expectations produced by running each template through Go 1.26 `text/template` with
//! `Option("missingkey=error")` and sprig v2.22.0's `TxtFuncMap` plus Kanister's ksprig
//! replacements: `DATA1`/`DATA2` decoded from JSON (integers as Go `int`), the struct cases
//! on Go types mirroring `params()` in `mod.rs` (package `main` renamed `param`).

pub(super) const DATA1: &str = r#"{"B": true, "Big": 1e+21, "E": [], "EM": {}, "F": 1.5, "Html": "<a href='x'>&</a>", "I": 3, "L": ["a", 1, 2.5, null, true], "M": {"a": "x", "b": 1, "c": [1, 2]}, "N": null, "Neg": -7, "Obj": {"data": {"password": "cGFzc3dvcmQ=", "user": "YWRtaW4="}, "spec": {"template": {"spec": {"volumes": [{"persistentVolumeClaim": {"claimName": "data-pvc"}}]}}}}, "Options": {"pitr": "2024-01-02T03:04:05Z"}, "S": "str", "Str2": "Hello World foo_bar", "Time": "2026-11-23T10:00:00.123456789Z", "U": "\u00fcn\u00efc\u00f6d\u00e9 \u00df", "Z": 0}"#;

pub(super) const DATA2: &str = r#"{"E": [], "EM": {}, "F": 1.5, "I": 3, "L": ["a", 1, 2.5, null, true], "LL": [[1, 2], [3]], "LM": [{"k": "v1"}, {"k": "v2"}], "M": {"a": "x", "b": 1, "c": [1, 2], "d": {"e": "f"}, "n": null}, "N": null, "Neg": -7, "Q": "a\"b\\c\n\t\u0000\u00ad\u00e9\ud83d\ude00", "S": "str", "U": 18446744073709551615}"#;

pub(super) const GO_CASES1: &[(&str, &str)] = &[
    (r#"{{ .S }}"#, r#"str"#),
    (
        r#"{{ .I }}|{{ .F }}|{{ .B }}|{{ .L }}|{{ .M }}|{{ .N }}|{{ .E }}|{{ .EM }}|{{ .Big }}"#,
        r#"3|1.5|true|[a 1 2.5 <nil> true]|map[a:x b:1 c:[1 2]]|<no value>|[]|map[]|1e+21"#,
    ),
    (
        r#"{{ .Missing }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <.Missing>: map has no entry for key "Missing""#,
    ),
    (r#"{{ .M.zz }}"#, r#"EXECERR template: config:1:5: executing "config" at <.M.zz>: map has no entry for key "zz""#),
    (
        r#"{{ .M.a.X }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.M.a.X>: can't evaluate field X in type interface {}"#,
    ),
    (
        r#"{{ .N.X }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.N.X>: nil pointer evaluating interface {}.X"#,
    ),
    (
        r#"{{ $x := .N }}{{ $x.Y }}"#,
        r#"EXECERR template: config:1:19: executing "config" at <$x.Y>: nil data; no entry for key "Y""#,
    ),
    (r#"{{ (.N).Y }}"#, r#"EXECERR template: config:1:4: executing "config" at <.N>: nil data; no entry for key "Y""#),
    (
        r#"{{ .S.X }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.S.X>: can't evaluate field X in type interface {}"#,
    ),
    (r#"{{- .S -}}   x"#, r#"strx"#),
    (r#"a  {{- .S }}  b"#, r#"astr  b"#),
    (r#"a  {{ .S -}}  b"#, r#"a  strb"#),
    (r#"{{/* c */}}x{{- /* c2 */ -}} y"#, r#"xy"#),
    (r#"{{ range .L }}[{{ . }}]{{ end }}"#, r#"[a][1][2.5][<no value>][true]"#),
    (r#"{{ range $i, $e := .L }}{{ $i }}={{ $e }},{{ end }}"#, r#"0=a,1=1,2=2.5,3=<no value>,4=true,"#),
    (r#"{{ range $k, $v := .M }}{{ $k }}:{{ $v }};{{ end }}"#, r#"a:x;b:1;c:[1 2];"#),
    (r#"{{ range .E }}x{{ else }}empty{{ end }}"#, r#"empty"#),
    (r#"{{ range .N }}x{{ else }}nil{{ end }}"#, r#"nil"#),
    (r#"{{ range 3 }}{{ . }}{{ end }}"#, r#"012"#),
    (r#"{{ range $i := .I }}{{ $i }}{{ end }}"#, r#"012"#),
    (
        r#"{{ range .L }}{{ if eq . "a" }}{{ continue }}{{ end }}{{ if eq . 2.5 }}{{ break }}{{ end }}{{ . }}{{ end }}"#,
        r#"EXECERR template: config:1:20: executing "config" at <eq . "a">: error calling eq: incompatible types for comparison: int and string"#,
    ),
    (
        r#"{{ range .S }}x{{ end }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <.S>: range can't iterate over str"#,
    ),
    (r#"{{ if .N }}y{{ else if .S }}s{{ else }}n{{ end }}"#, r#"s"#),
    (r#"{{ with .M }}{{ .a }}{{ end }}{{ with .E }}x{{ else with .S }}{{ . }}{{ end }}"#, r#"xstr"#),
    (r#"{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .S }}{{ template "t" }}"#, r#"[str][<no value>]"#),
    (r#"{{ block "b" .I }}<{{ . }}>{{ end }}"#, r#"<3>"#),
    (
        r#"{{ template "nope" }}"#,
        r#"EXECERR template: config:1:12: executing "config" at <{{template "nope"}}>: template "nope" not defined"#,
    ),
    (r#"{{ $a := 1 }}{{ $a = 2 }}{{ $a }}"#, r#"2"#),
    (
        r#"{{ $a := .L }}{{ range $a }}{{ $ }}{{ end }}"#,
        r#"map[B:true Big:1e+21 E:[] EM:map[] F:1.5 Html:<a href='x'>&</a> I:3 L:[a 1 2.5 <nil> true] M:map[a:x b:1 c:[1 2]] N:<nil> Neg:-7 Obj:map[data:map[password:cGFzc3dvcmQ= user:YWRtaW4=] spec:map[template:map[spec:map[volumes:[map[persistentVolumeClaim:map[claimName:data-pvc]]]]]]] Options:map[pitr:2024-01-02T03:04:05Z] S:str Str2:Hello World foo_bar Time:2026-11-23T10:00:00.123456789Z U:ünïcödé ß Z:0]map[B:true Big:1e+21 E:[] EM:map[] F:1.5 Html:<a href='x'>&</a> I:3 L:[a 1 2.5 <nil> true] M:map[a:x b:1 c:[1 2]] N:<nil> Neg:-7 Obj:map[data:map[password:cGFzc3dvcmQ= user:YWRtaW4=] spec:map[template:map[spec:map[volumes:[map[persistentVolumeClaim:map[claimName:data-pvc]]]]]]] Options:map[pitr:2024-01-02T03:04:05Z] S:str Str2:Hello World foo_bar Time:2026-11-23T10:00:00.123456789Z U:ünïcödé ß Z:0]map[B:true Big:1e+21 E:[] EM:map[] F:1.5 Html:<a href='x'>&</a> I:3 L:[a 1 2.5 <nil> true] M:map[a:x b:1 c:[1 2]] N:<nil> Neg:-7 Obj:map[data:map[password:cGFzc3dvcmQ= user:YWRtaW4=] spec:map[template:map[spec:map[volumes:[map[persistentVolumeClaim:map[claimName:data-pvc]]]]]]] Options:map[pitr:2024-01-02T03:04:05Z] S:str Str2:Hello World foo_bar Time:2026-11-23T10:00:00.123456789Z U:ünïcödé ß Z:0]map[B:true Big:1e+21 E:[] EM:map[] F:1.5 Html:<a href='x'>&</a> I:3 L:[a 1 2.5 <nil> true] M:map[a:x b:1 c:[1 2]] N:<nil> Neg:-7 Obj:map[data:map[password:cGFzc3dvcmQ= user:YWRtaW4=] spec:map[template:map[spec:map[volumes:[map[persistentVolumeClaim:map[claimName:data-pvc]]]]]]] Options:map[pitr:2024-01-02T03:04:05Z] S:str Str2:Hello World foo_bar Time:2026-11-23T10:00:00.123456789Z U:ünïcödé ß Z:0]map[B:true Big:1e+21 E:[] EM:map[] F:1.5 Html:<a href='x'>&</a> I:3 L:[a 1 2.5 <nil> true] M:map[a:x b:1 c:[1 2]] N:<nil> Neg:-7 Obj:map[data:map[password:cGFzc3dvcmQ= user:YWRtaW4=] spec:map[template:map[spec:map[volumes:[map[persistentVolumeClaim:map[claimName:data-pvc]]]]]]] Options:map[pitr:2024-01-02T03:04:05Z] S:str Str2:Hello World foo_bar Time:2026-11-23T10:00:00.123456789Z U:ünïcödé ß Z:0]"#,
    ),
    (r#"{{ index .M "a" }}|{{ index .M "zz" }}|{{ index .L 1 }}|{{ index .S 0 }}"#, r#"x|<no value>|1|115"#),
    (
        r#"{{ index .L 5 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .L 5>: error calling index: reflect: slice index out of range"#,
    ),
    (r#"{{ index .L 4 }}"#, r#"true"#),
    (
        r#"{{ index .L 6 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .L 6>: error calling index: index out of range: 6"#,
    ),
    (
        r#"{{ index .N 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .N 1>: error calling index: index of untyped nil"#,
    ),
    (
        r#"{{ index .M 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .M 1>: error calling index: value has type int; should be string"#,
    ),
    (
        r#"{{ index .I 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .I 1>: error calling index: can't index item of type int"#,
    ),
    (r#"{{ index .Obj.data "password" | b64dec }}"#, r#"password"#),
    (r#"{{ (index .Obj.spec.template.spec.volumes 0).persistentVolumeClaim.claimName }}"#, r#"data-pvc"#),
    (r#"{{ len .S }}|{{ len .L }}|{{ len .M }}|{{ len .E }}"#, r#"3|5|3|0"#),
    (
        r#"{{ len .I }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <len .I>: error calling len: len of type int"#,
    ),
    (
        r#"{{ len .N }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <len .N>: error calling len: len of nil pointer"#,
    ),
    (
        r#"{{ len nil }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <len nil>: error calling len: reflect: call of reflect.Value.Type on zero Value"#,
    ),
    (
        r#"{{ eq 1 1 }}|{{ eq .S "str" }}|{{ eq .I 1 2 3 }}|{{ ne 1 2 }}|{{ lt 1 2 }}|{{ le 2 2 }}|{{ gt "b" "a" }}|{{ ge 1.5 .F }}"#,
        r#"true|true|true|true|true|true|true|true"#,
    ),
    (
        r#"{{ eq .S 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <eq .S 1>: error calling eq: incompatible types for comparison: string and int"#,
    ),
    (
        r#"{{ eq .L .L }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <eq .L .L>: error calling eq: non-comparable type [a %!s(int=1) %!s(float64=2.5) <nil> %!s(bool=true)]: []interface {}"#,
    ),
    (r#"{{ eq .N nil }}"#, r#"true"#),
    (
        r#"{{ eq .M .L }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <eq .M .L>: error calling eq: non-comparable types map[a:x b:%!s(int=1) c:[%!s(int=1) %!s(int=2)]]: map[string]interface {}, []interface {}: [a 1 2.5 <nil> true]"#,
    ),
    (
        r#"{{ lt .B .B }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <lt .B .B>: error calling lt: invalid type for comparison"#,
    ),
    (
        r#"{{ lt 1 1.5 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <lt 1 1.5>: error calling lt: incompatible types for comparison: int and float64"#,
    ),
    (
        r#"{{ eq }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <eq>: wrong number of args for eq: want at least 1 got 0"#,
    ),
    (r#"{{ and 1 0 2 }}|{{ and 1 2 }}|{{ or 0 "" 3 }}|{{ or 0 "" }}|{{ not 0 }}|{{ not .S }}"#, r#"0|2|3||true|false"#),
    (r#"{{ and .N .Missing }}"#, r#"<no value>"#),
    (r#"{{ or .S .Missing }}"#, r#"str"#),
    (
        r#"{{ print 1 2 "a" "b" 3 nil }}|{{ println 1 "a" }}|{{ print .N }}"#,
        r#"1 2ab3 <nil>|1 a
|<nil>"#,
    ),
    (
        r#"{{ printf "%v %q %x %d %s" .L .L "hi" 3 .M }}"#,
        r#"[a 1 2.5 <nil> true] ["a" '\x01' %!q(float64=2.5) <nil> %!q(bool=true)] 6869 3 map[a:x b:%!s(int=1) c:[%!s(int=1) %!s(int=2)]]"#,
    ),
    (
        r#"{{ printf "%d" "x" }}|{{ printf "%s" 3 }}|{{ printf "%d %d" 1 }}|{{ printf "%d" 1 2 }}"#,
        r#"%!d(string=x)|%!s(int=3)|1 %!d(MISSING)|1%!(EXTRA int=2)"#,
    ),
    (
        r#"{{ printf "%5.2f|%-5d|%05d|%+d|%x|%X|%o|%b|%e|%g|%G|%8.3e|%.0f|%.3g" 3.14159 42 42 42 255 255 8 5 1234.5678 0.000012345 1e21 123456.789 2.5 1234567.0 }}"#,
        r#" 3.14|42   |00042|+42|ff|FF|10|101|1.234568e+03|1.2345e-05|1E+21|1.235e+05|2|1.23e+06"#,
    ),
    (
        r#"{{ printf "%q" 65 }}|{{ printf "%c" 65 }}|{{ printf "%U" 65 }}|{{ printf "%#U" 0x1F600 }}|{{ printf "%t" true }}|{{ printf "%v" nil }}|{{ printf "%s" nil }}|{{ printf "%d" nil }}"#,
        r#"'A'|A|U+0041|U+1F600 '😀'|true|<nil>|%!s(<nil>)|%!d(<nil>)"#,
    ),
    (
        r#"{{ printf "%T %T %T %T %T %T" 1 1.5 "a" .L .M nil }}"#,
        r#"int float64 string []interface {} map[string]interface {} <nil>"#,
    ),
    (
        r#"{{ printf "%[2]d %[1]d" 1 2 }}|{{ printf "%[3]d" 1 }}|{{ printf "%*d|%-*d|%.*f" 5 1 4 2 2 3.14159 }}|{{ printf "%" }}|{{ printf "%!" }}|{{ printf "%z" 1 }}"#,
        r#"2 1|%!d(BADINDEX)|    1|2   |3.14|%!(NOVERB)|%!!(MISSING)|%!z(int=1)"#,
    ),
    (
        r#"{{ printf "%6s|%-6s|%.2s|%x|% x|%#x|%q|%#q|%+q" "ab" "ab" "abc" "hi" "hi" "hi" "a\"b" "ab" "é" }}"#,
        r#"    ab|ab    |ab|6869|68 69|0x6869|"a\"b"|`ab`|"\u00e9""#,
    ),
    (r#"{{ printf "%v|%+v|%#v" .M .M .S }}"#, r#"map[a:x b:1 c:[1 2]]|map[a:x b:1 c:[1 2]]|"str""#),
    (
        r#"{{ printf "%08.3f|%+.2e|% d|%x|%X" -3.14159 12345.678 5 -255 3.5 }}"#,
        r#"-003.142|+1.23e+04| 5|-ff|0X1.CP+01"#,
    ),
    (
        r#"{{ html .Html }}|{{ js .Html }}|{{ urlquery .Html }}|{{ html 1 2 }}|{{ html nil }}"#,
        r#"&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;|\u003Ca href\u003D\'x\'\u003E\u0026\u003C/a\u003E|%3Ca+href%3D%27x%27%3E%26%3C%2Fa%3E|1 2|&lt;no value&gt;"#,
    ),
    (r#"{{ js "a\nb\u2028é\x01=" }}"#, r#"a\u000Ab\u2028é\u0001\u003D"#),
    (
        r#"{{ 1000000.0 }}|{{ 123456.0 }}|{{ 1e20 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 3.0 }}|{{ -0.0 }}|{{ 0x1F }}|{{ 'a' }}|{{ 1_000 }}|{{ 0o17 }}|{{ 017 }}|{{ 0b101 }}|{{ 0x1p4 }}|{{ 1e3 }}"#,
        r#"1e+06|123456|1e+20|0.0001|1e-05|3|-0|31|97|1000|15|15|5|16|1000"#,
    ),
    (
        r#"{{ 18446744073709551615 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <18446744073709551615>: 18446744073709551615 overflows int"#,
    ),
    (
        r#"{{ "a" "b" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <"a">: can't give argument to non-function "a""#,
    ),
    (
        r#"{{ .S .I }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <.S>: S is not a method but has arguments"#,
    ),
    (r#"{{ nil }}"#, r#"EXECERR template: config:1:3: executing "config" at <nil>: nil is not a command"#),
    (
        r#"{{ call .S }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <call .S>: error calling call: non-function .S of type string"#,
    ),
    (
        r#"{{ upper .N }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <.N>: wrong type for value; expected string; got interface {}"#,
    ),
    (
        r#"{{ .N | upper }}"#,
        r#"EXECERR template: config:1:8: executing "config" at <upper>: invalid value; expected string"#,
    ),
    (
        r#"{{ upper .I }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <.I>: wrong type for value; expected string; got int"#,
    ),
    (r#"{{ upper 3 }}"#, r#"EXECERR template: config:1:9: executing "config" at <3>: expected string; found 3"#),
    (r#"{{ upper nil }}"#, r#"EXECERR template: config:1:9: executing "config" at <nil>: cannot assign nil to string"#),
    (
        r#"{{ upper .M }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <.M>: wrong type for value; expected string; got map[string]interface {}"#,
    ),
    (
        r#"{{ repeat .S "a" }}"#,
        r#"EXECERR template: config:1:10: executing "config" at <.S>: wrong type for value; expected int; got string"#,
    ),
    (
        r#"{{ repeat "2" "a" }}"#,
        r#"EXECERR template: config:1:10: executing "config" at <"2">: expected integer; found "2""#,
    ),
    (
        r#"{{ repeat 2.5 "a" }}"#,
        r#"EXECERR template: config:1:10: executing "config" at <2.5>: expected integer; found 2.5"#,
    ),
    (r#"{{ repeat .I "a" }}"#, r#"aaa"#),
    (
        r#"{{ printf }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <printf>: wrong number of args for printf: want at least 1 got 0"#,
    ),
    (
        r#"{{ upper }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <upper>: wrong number of args for upper: want 1 got 0"#,
    ),
    (
        r#"{{ upper "a" "b" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <upper>: wrong number of args for upper: want 1 got 2"#,
    ),
    (
        r#"{{ "x" | upper "y" }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <upper>: wrong number of args for upper: want 1 got 2"#,
    ),
    (r#"{{ 3 | printf "%d-%s" "x" }}"#, r#"%!d(string=x)-%!s(int=3)"#),
    (r#"{{ .S | len }}|{{ .L | len }}"#, r#"3|5"#),
    (
        r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" "2026-11-23T10:00:00.123456789Z" | date "2006-01-02T15-04-05" }}"#,
        r#"2026-11-23T10-00-00"#,
    ),
    (
        r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" .Time | date "2006-01-02T15:04:05Z07:00" }}"#,
        r#"2026-11-23T10:00:00Z"#,
    ),
    (r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" .Time }}"#, r#"2026-11-23 10:00:00.123456789 +0000 UTC"#),
    (
        r#"{{ toDate "2006-01-02T15:04:05Z07:00" "2026-11-23T10:00:00+02:00" }}|{{ toDate "2006-01-02T15:04:05Z07:00" "2026-11-23T10:00:00+02:00" | date "15:04 MST -0700" }}"#,
        r#"2026-11-23 10:00:00 +0200 +0200|08:00 UTC +0000"#,
    ),
    (
        r#"{{ toDate "2006-01-02T15:04:05Z" .Options.pitr | date "2006-01-02 15:04:05 GMT" }}"#,
        r#"2024-01-02 03:04:05 GMT"#,
    ),
    (
        r#"{{ toDate "2006-01-02" "2024-02-30" }}|{{ toDate "2006-01-02" "bad" | date "2006" }}"#,
        r#"0001-01-01 00:00:00 +0000 UTC|0001"#,
    ),
    (
        r#"{{ toDate "Jan _2 15:04:05.000 2006 MST" "Feb  3 04:05:06.789 2021 PST" }}"#,
        r#"2021-02-03 04:05:06.789 +0000 PST"#,
    ),
    (r#"{{ toDate "Monday, 02-Jan-06 3:04PM" "Tuesday, 05-Mar-24 11:30AM" }}"#, r#"2024-03-05 11:30:00 +0000 UTC"#),
    (
        r#"{{ toDate "2006-01-02 15:04:05 -0700" "2021-06-01 12:00:00 -0430" | date "Mon Jan 2 15:04:05 MST 2006|January _2 __2 002 03 3 PM pm .000 .999 ,00 Z07 Z0700 -07:00:00" }}"#,
        r#"Tue Jun 1 16:30:00 UTC 2021|June  1 152 152 04 4 PM pm .000  ,00 Z Z +00:00:00"#,
    ),
    (
        r#"{{ toDate "2006-002" "2024-060" }}|{{ toDate "02/01/06" "31/12/99" }}|{{ toDate "15:04:05.9" "10:11:12.123456789123" }}"#,
        r#"2024-02-29 00:00:00 +0000 UTC|1999-12-31 00:00:00 +0000 UTC|0000-01-01 10:11:12.123456789 +0000 UTC"#,
    ),
    (
        r#"{{ toDate "2006-01-02 MST" "2021-06-01 GMT+3" }}|{{ toDate "2006-01-02 MST" "2021-06-01 UTC" }}"#,
        r#"2021-06-01 03:00:00 +0300 GMT+3|2021-06-01 00:00:00 +0000 UTC"#,
    ),
    (
        r#"{{ toDate "2006-01-02" "2024-03-01" | dateModify "-1.5h" }}|{{ toDate "2006-01-02" "2024-03-01" | date_modify "bad" }}|{{ toDate "2006-01-02" "2024-03-01" | unixEpoch }}"#,
        r#"2024-02-29 22:30:00 +0000 UTC|2024-03-01 00:00:00 +0000 UTC|1709251200"#,
    ),
    (
        r#"{{ (toDate "2006-01-02" "2024-03-01").Unix }}|{{ (toDate "2006-01-02" "2024-03-01").Year }}|{{ (toDate "2006-01-02T15:04:05Z" "2024-03-01T10:20:30Z").Format "15h04" }}"#,
        r#"1709251200|2024|10h20"#,
    ),
    (
        r#"{{ toJson .M }}|{{ toJson .L }}|{{ toJson .Html }}|{{ toJson .Big }}|{{ toJson 1e20 }}|{{ toJson 0.0000001 }}|{{ toJson 3.0 }}|{{ toJson .N }}|{{ toJson (toDate "2006-01-02" "2024-03-01") }}"#,
        r#"{"a":"x","b":1,"c":[1,2]}|["a",1,2.5,null,true]|"\u003ca href='x'\u003e\u0026\u003c/a\u003e"|1e+21|100000000000000000000|1e-7|3|null|"2024-03-01T00:00:00Z""#,
    ),
    (
        r#"{{ toPrettyJson .M }}|{{ toPrettyJson .E }}|{{ toPrettyJson .EM }}|{{ toPrettyJson "x" }}"#,
        r#"{
  "a": "x",
  "b": 1,
  "c": [
    1,
    2
  ]
}|[]|{}|"x""#,
    ),
    (
        r#"{{ toJson (dict "a" (list 1 2) "b" (dict)) }}|{{ toPrettyJson (dict "a" (list 1 (dict "z" 1)) "b" (dict)) }}"#,
        r#"{"a":[1,2],"b":{}}|{
  "a": [
    1,
    {
      "z": 1
    }
  ],
  "b": {}
}"#,
    ),
    (
        r#"{{ toString 1 }}|{{ toString .L }}|{{ toString .N }}|{{ toString 1.5 }}|{{ toString true }}"#,
        r#"1|[a 1 2.5 <nil> true]|<nil>|1.5|true"#,
    ),
    (
        r#"{{ quote "a" 1 nil .S }}|{{ squote "a" 1 nil }}|{{ cat "a" 1 nil "b" }}|{{ quote "a\"b\n" }}"#,
        r#""a" "1" "str"|'a' '1'|a 1 b|"a\"b\n""#,
    ),
    (
        r#"{{ trim "  a b  " }}|{{ trimAll "$" "$$a$$" }}|{{ trimall "$" "$a" }}|{{ trimSuffix ".go" "a.go" }}|{{ trimPrefix "x" "xa" }}"#,
        r#"a b|a|a|a|a"#,
    ),
    (
        r#"{{ upper .U }}|{{ lower "ABC" }}|{{ title "hello world-foo_bar" }}|{{ untitle "Hello World" }}|{{ swapcase "Hello World" }}"#,
        r#"ÜNÏCÖDÉ ß|abc|Hello World-Foo_bar|hello world|hELLO wORLD"#,
    ),
    (
        r#"{{ substr 1 3 "hello" }}|{{ substr -1 2 "hello" }}|{{ substr 2 99 "hello" }}|{{ substr 3 1 "hello" }}"#,
        r#"EXECERR template: config:1:80: executing "config" at <substr 3 1 "hello">: error calling substr: runtime error: slice bounds out of range [3:1]"#,
    ),
    (
        r#"{{ repeat 3 "ab" }}|{{ repeat 0 "x" }}|{{ repeat -1 "x" }}"#,
        r#"EXECERR template: config:1:42: executing "config" at <repeat -1 "x">: error calling repeat: strings: negative Repeat count"#,
    ),
    (
        r#"{{ nospace " a b\tc\n" }}|{{ trunc 3 "hello" }}|{{ trunc 10 "hi" }}|{{ trunc -1 "hello" }}"#,
        r#"EXECERR template: config:1:71: executing "config" at <trunc -1 "hello">: error calling trunc: runtime error: slice bounds out of range [:-1]"#,
    ),
    (
        r#"{{ abbrev 5 "hello world" }}|{{ abbrev 3 "hello" }}|{{ abbrevboth 5 10 "1234 5678 9123" }}|{{ initials "foo bar baz" }}"#,
        r#"he...|hello|...5678...|fbb"#,
    ),
    (r#"{{ contains "ell" "hello" }}|{{ hasPrefix "he" "hello" }}|{{ hasSuffix "lo" "hello" }}"#, r#"true|true|true"#),
    (
        r#"{{ indent 2 "a\nb" }}|{{ nindent 2 "a\nb" }}|{{ replace "a" "b" "aaa" }}|{{ replace "" "-" "abc" }}"#,
        r#"  a
  b|
  a
  b|bbb|-a-b-c-"#,
    ),
    (r#"{{ plural "one" "many" 1 }}|{{ plural "one" "many" 2 }}"#, r#"one|many"#),
    (
        r#"{{ snakecase "HTTPServer2XX fooBar" }}|{{ camelcase "http_server_foo" }}|{{ kebabcase "FooBarBaz" }}|{{ snakecase "foo-bar baz" }}|{{ camelcase "__a_b" }}"#,
        r#"http_server_2xx_foo_bar|HttpServerFoo|foo-bar-baz|foo_bar_baz|__AB"#,
    ),
    (
        r#"{{ wrap 5 "The quick brown fox" }}|{{ wrapWith 5 "\t" "The quick brown fox" }}|{{ wrap 3 "averyveryverylongword and" }}"#,
        r#"The
quick
brown
fox|The	quick	brown	fox|averyveryverylongword
and"#,
    ),
    (
        r#"{{ sha1sum "abc" }}|{{ sha256sum "abc" }}|{{ adler32sum "abc" }}"#,
        r#"a9993e364706816aba3e25717850c26c9cd0d89d|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad|38600999"#,
    ),
    (
        r#"{{ b64enc "hello" }}|{{ b64dec "aGVsbG8=" }}|{{ b64dec "!!" }}|{{ b64dec "aGVsbG8" }}|{{ b64dec "aGVs\nbG8=" }}|{{ b64dec "aGVsbG8=x" }}|{{ b64dec "a===" }}"#,
        r#"aGVsbG8=|hello|illegal base64 data at input byte 0|illegal base64 data at input byte 4|hello|illegal base64 data at input byte 8|illegal base64 data at input byte 1"#,
    ),
    (
        r#"{{ b32enc "hello" }}|{{ b32dec "NBSWY3DP" }}|{{ b32dec "NBSWY3D" }}|{{ b32dec "!!!!!!!!" }}|{{ b32enc "h" }}|{{ b32dec "NA======" }}"#,
        r#"NBSWY3DP|hello|illegal base32 data at input byte 0|illegal base32 data at input byte 0|NA======|h"#,
    ),
    (
        r#"{{ atoi "42" }}|{{ atoi "x" }}|{{ atoi "+7" }}|{{ int "12" }}|{{ int 1.9 }}|{{ int true }}|{{ int64 "-3" }}|{{ float64 "1.5" }}|{{ float64 3 }}|{{ int .N }}"#,
        r#"42|0|7|12|1|1|-3|1.5|3|0"#,
    ),
    (
        r#"{{ add 1 2 "3" }}|{{ add1 5 }}|{{ sub 5 2 }}|{{ mul 2 3 4 }}|{{ div 7 2 }}|{{ mod 7 3 }}|{{ max 1 5 3 }}|{{ min 4 2 8 }}|{{ biggest 1 9 }}"#,
        r#"6|6|3|24|3|1|5|2|9"#,
    ),
    (
        r#"{{ div 1 0 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <div 1 0>: error calling div: runtime error: integer divide by zero"#,
    ),
    (
        r#"{{ mod 1 0 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <mod 1 0>: error calling mod: runtime error: integer divide by zero"#,
    ),
    (
        r#"{{ floor 1.5 }}|{{ ceil 1.2 }}|{{ round 3.14159 2 }}|{{ round 2.5 0 }}|{{ round 1.2345 2 0.3 }}|{{ floor "2.7" }}"#,
        r#"1|2|3.14|3|1.24|2"#,
    ),
    (
        r#"{{ until 3 }}|{{ until -2 }}|{{ untilStep 0 10 3 }}|{{ untilStep 10 0 -4 }}|{{ untilStep 0 10 0 }}"#,
        r#"[0 1 2]|[0 -1]|[0 3 6 9]|[10 6 2]|[]"#,
    ),
    (r#"{{ toDecimal "777" }}|{{ toDecimal 17 }}|{{ toDecimal "9" }}"#, r#"511|15|0"#),
    (
        r#"{{ join "," .L }}|{{ join "-" (list "a" "b") }}|{{ join "," .S }}|{{ join "," .N }}"#,
        r#"a,1,2.5,true|a-b|str|"#,
    ),
    (
        r#"{{ split "," "a,b,c" }}|{{ (split "," "a,b").x_1 }}|{{ splitList "," "a,b,c" }}|{{ splitn "," 2 "a,b,c" }}|{{ toStrings (list 1 nil "a") }}"#,
        r#"EXECERR template: config:1:38: executing "config" at <"a,b">: map has no entry for key "x_1""#,
    ),
    (r#"{{ sortAlpha (list "c" "a" "b") }}|{{ sortAlpha "x" }}"#, r#"[a b c]|[x]"#),
    (
        r#"{{ default "d" .N }}|{{ default "d" "" }}|{{ default "d" "v" }}|{{ default "d" 0 }}|{{ default "d" .E }}|{{ .N | default "x" }}|{{ default "d" }}"#,
        r#"d|d|v|d|d|x|d"#,
    ),
    (
        r#"{{ empty .N }}|{{ empty "" }}|{{ empty .M }}|{{ empty 0 }}|{{ empty false }}|{{ empty .EM }}"#,
        r#"true|true|false|true|true|true"#,
    ),
    (
        r#"{{ coalesce .N "" "c" }}|{{ coalesce .N 0 }}|{{ ternary "y" "n" true }}|{{ ternary "y" "n" false }}"#,
        r#"c|<no value>|y|n"#,
    ),
    (r#"{{ compact (list 1 0 "" "a" nil) }}|{{ deepCopy .M }}"#, r#"[1 a]|map[a:x b:1 c:[1 2]]"#),
    (
        r#"{{ typeOf 1 }}|{{ typeOf .L }}|{{ typeOf .M }}|{{ typeOf .N }}|{{ typeOf 1.5 }}|{{ typeIs "int" 1 }}|{{ typeIsLike "int" 1 }}|{{ kindOf .L }}|{{ kindOf .M }}|{{ kindIs "string" "a" }}|{{ kindOf .N }}|{{ typeOf (toDate "2006" "2020") }}|{{ kindOf (toDate "2006" "2020") }}"#,
        r#"int|[]interface {}|map[string]interface {}|<nil>|float64|true|true|slice|map|true|invalid|time.Time|struct"#,
    ),
    (r#"{{ deepEqual .L .L }}|{{ deepEqual 1 1.0 }}|{{ deepEqual (list 1) (list 1) }}"#, r#"true|false|true"#),
    (
        r#"{{ base "/a/b.txt" }}|{{ dir "/a/b.txt" }}|{{ clean "a//b/../c/." }}|{{ ext "a/b.tar.gz" }}|{{ isAbs "/x" }}|{{ base "" }}|{{ dir "x" }}|{{ base "/" }}"#,
        r#"b.txt|/a|a/c|.gz|true|.|.|/"#,
    ),
    (r#"{{ list 1 "a" }}|{{ tuple 1 2 }}|{{ dict "a" 1 "b" }}|{{ dict 1 2 }}"#, r#"[1 a]|[1 2]|map[a:1 b:]|map[1:2]"#),
    (
        r#"{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }}|{{ unset $d "a" }}|{{ hasKey $d "b" }}|{{ hasKey .M "zz" }}"#,
        r#"map[a:1 b:2]|map[b:2]|true|false"#,
    ),
    (
        r#"{{ pluck "a" (dict "a" 1) (dict "b" 2) (dict "a" 3) }}|{{ keys (dict "b" 1 "a" 2) | sortAlpha }}|{{ pick .M "a" "c" }}|{{ omit .M "a" }}|{{ values (dict "a" 1) }}"#,
        r#"[1 3]|[a b]|map[a:x c:[1 2]]|map[b:1 c:[1 2]]|[1]"#,
    ),
    (
        r#"{{ merge (dict "a" 1 "n" (dict "x" 1)) (dict "a" 2 "b" 3 "n" (dict "y" 2)) }}|{{ mergeOverwrite (dict "a" 1 "n" (dict "x" 1)) (dict "a" 2 "b" 3 "n" (dict "x" 5)) }}"#,
        r#"map[a:1 b:3 n:map[x:1 y:2]]|map[a:2 b:3 n:map[x:5]]"#,
    ),
    (
        r#"{{ append .L "z" }}|{{ push (list) 1 }}|{{ prepend (list 1) 0 }}|{{ first .L }}|{{ last .L }}|{{ rest .L }}|{{ initial .L }}|{{ reverse (list 1 2 3) }}|{{ uniq (list 1 1 "a" "a" 2) }}|{{ without (list 1 2 3) 2 }}|{{ has 2 (list 1 2) }}|{{ has 5 .N }}"#,
        r#"[a 1 2.5 <nil> true z]|[1]|[0 1]|a|true|[1 2.5 <nil> true]|[a 1 2.5 <nil>]|[3 2 1]|[1 a 2]|[1 3]|true|false"#,
    ),
    (r#"{{ first .E }}|{{ rest .E }}|{{ last .E }}|{{ initial .E }}"#, r#"<no value>|[]|<no value>|[]"#),
    (
        r#"{{ first .S }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <first .S>: error calling first: Cannot find first on type string"#,
    ),
    (
        r#"{{ first .N }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <first .N>: error calling first: runtime error: invalid memory address or nil pointer dereference"#,
    ),
    (
        r#"{{ append .S 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <append .S 1>: error calling append: Cannot push on type string"#,
    ),
    (
        r#"{{ has 1 .S }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <has 1 .S>: error calling has: Cannot find has on type string"#,
    ),
    (
        r#"{{ slice .L 1 3 }}|{{ slice .L 2 }}|{{ slice .L }}|{{ slice .E }}|{{ concat (list 1) (list 2 3) }}|{{ concat }}"#,
        r#"[1 2.5]|[2.5 <nil> true]|[a 1 2.5 <nil> true]|<no value>|[1 2 3]|[]"#,
    ),
    (
        r#"{{ slice "abc" 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <slice "abc" 1>: error calling slice: list should be type of slice or array but string"#,
    ),
    (
        r#"{{ slice .L 3 1 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <slice .L 3 1>: error calling slice: reflect.Value.Slice: slice index out of bounds"#,
    ),
    (
        r#"{{ concat .S }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <concat .S>: error calling concat: Cannot concat type string as list"#,
    ),
    (
        r#"{{ regexMatch "^a.c$" "abc" }}|{{ regexFindAll "a." "aXaYaZ" -1 }}|{{ regexFindAll "a." "aXaYaZ" 2 }}|{{ regexFind "[0-9]+" "ab123cd" }}|{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}|{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}|{{ regexSplit "z+" "pizza" -1 }}|{{ regexSplit "a*" "abaabaccadaaae" 5 }}|{{ regexMatch "(" "x" }}"#,
        r#"true|[aX aY aZ]|[aX aY]|123|-W-xxW-|-${1}-${1}-|[pi a]|[ b b c cadaaae]|false"#,
    ),
    (
        r#"{{ regexFind "(" "x" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <regexFind "(" "x">: error calling regexFind: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"#,
    ),
    (
        r#"{{ regexFindAll "\\d" "a1é٣2" -1 }}|{{ regexFindAll "x*" "axxb" -1 }}|{{ regexSplit "" "abc" -1 }}"#,
        r#"[1 2]|[ xx ]|[a b c]"#,
    ),
    (
        r#"{{ urlParse "https://user:pa%20ss@example.com:8080/p/a%20th?q=1#fr%20ag" }}|{{ urlParse "mailto:a@b.c" }}|{{ urlJoin (dict "scheme" "https" "host" "h:1" "path" "/a b" "query" "x=1" "fragment" "f g" "userinfo" "u:p") }}"#,
        r#"map[fragment:fr ag host:example.com:8080 hostname:example.com opaque: path:/p/a th query:q=1 scheme:https userinfo:user:pa%20ss]|map[fragment: host: hostname: opaque:a@b.c path: query: scheme:mailto userinfo:]|https://u:p@h:1/a%20b?x=1#f%20g"#,
    ),
    (
        r#"{{ semver "v1.2.3-beta.1+build" }}|{{ (semver "1.2").Minor }}|{{ semverCompare ">=1.2.0, <2" "1.5.0" }}|{{ semverCompare "^1.2" "2.0.0" }}|{{ semverCompare "~1.2.x" "1.2.9" }}|{{ semverCompare "1.2 - 1.4" "1.3.0" }}|{{ semverCompare ">1" "1.1.0-alpha" }}|{{ semverCompare "1.x || 3" "3.0.0" }}|{{ semverCompare "!=1.2.3" "1.2.3" }}"#,
        r#"1.2.3-beta.1+build|2|true|false|true|true|false|true|false"#,
    ),
    (
        r#"{{ semver "bad" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <semver "bad">: error calling semver: Invalid Semantic Version"#,
    ),
    (
        r#"{{ semverCompare "foo" "1.0.0" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <semverCompare "foo" "1.0.0">: error calling semverCompare: improper constraint: foo"#,
    ),
    (
        r#"{{ fail "boom" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <fail "boom">: error calling fail: boom"#,
    ),
    (
        r#"{{ derivePassword 1 "long" "a" "b" "c" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <derivePassword 1 "long" "a" "b" "c">: error calling derivePassword: sprig usage of 'derivePassword' is not allowed by kanister as it is not FIPS compatible"#,
    ),
    (
        r#"{{ genPrivateKey "dsa" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <genPrivateKey "dsa">: error calling genPrivateKey: sprig usage of 'genPrivateKey for dsa' is not allowed by kanister as it is not FIPS compatible"#,
    ),
    (
        r#"{{ genPrivateKey "" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <genPrivateKey "">: error calling genPrivateKey: sprig usage of 'genPrivateKey for ' is not allowed by kanister as it is not FIPS compatible"#,
    ),
    (r#"{{ genPrivateKey "ed25519" }}"#, r#"Unknown type ed25519"#),
    (r#"{{ bcrypt "x" }}"#, r#"PARSEERR template: config:1: function "bcrypt" not defined"#),
    (r#"{{ htpasswd "a" "b" }}"#, r#"PARSEERR template: config:1: function "htpasswd" not defined"#),
    (
        r#"{{ hello }}|{{ env "KT_NOPE" }}|{{ expandenv "a$KT_NOPE-${KT_NOPE}b$" }}|{{ decryptAES "secret" (encryptAES "secret" "plain text") }}|{{ encryptAES "k" "" }}|{{ len (uuidv4) }}|{{ len (randAlphaNum 7) }}|{{ regexMatch "^[0-9]{5}$" (randNumeric 5) }}|{{ regexMatch "^[A-Za-z]{4}$" (randAlpha 4) }}|{{ len (randAscii 3) }}|{{ len (shuffle "abc") }}|{{ randAlpha -1 }}"#,
        r#"Hello!||a-b$|plain text||36|7|true|true|3|3|"#,
    ),
    (
        r#"{{ .StatefulSet.Name | upper | replace "-" "_" }}"#,
        r#"EXECERR template: config:1:15: executing "config" at <.StatefulSet.Name>: map has no entry for key "StatefulSet""#,
    ),
    (r#"{{ with $x := .S }}{{ $x }}{{ end }}{{ $x }}"#, r#"PARSEERR template: config:1: undefined variable "$x""#),
    (r#"{{ if }}{{ end }}"#, r#"PARSEERR template: config:1: missing value for if"#),
    (r#"{{ .X"#, r#"PARSEERR template: config:1: unclosed action"#),
    (r#"{{ .X }"#, r#"PARSEERR template: config:1: unexpected "}" in operand"#),
    (r#"{{ if .X }}a"#, r#"PARSEERR template: config:1: unexpected EOF"#),
    (r#"{{ end }}"#, r#"PARSEERR template: config:1: unexpected {{end}}"#),
    (r#"{{ range .X }}{{ else }}{{ else }}{{ end }}"#, r#"PARSEERR template: config:1: expected end; found {{else}}"#),
    (r#"{{ "abc }}"#, r#"PARSEERR template: config:1: unterminated quoted string"#),
    (r#"{{ 3x }}"#, r#"PARSEERR template: config:1: bad number syntax: "3x""#),
    (r#"{{ .S | }}"#, r#"str"#),
    (r#"{{ | .X }}"#, r#"PARSEERR template: config:1: unexpected "|" in command"#),
    (r#"{{ $x }}"#, r#"PARSEERR template: config:1: undefined variable "$x""#),
    (r#"{{ (.X }}"#, r#"PARSEERR template: config:1: unclosed left paren"#),
    (r#"{{ .X) }}"#, r#"PARSEERR template: config:1: unexpected right paren"#),
    (r#"{{ break }}"#, r#"PARSEERR template: config:1: {{break}} outside {{range}}"#),
    (r#"{{ define "a" }}"#, r#"PARSEERR template: config:1: unexpected EOF"#),
    (r#"{{ .X.1 }}"#, r#"PARSEERR template: config:1: unexpected ".1" in operand"#),
    (
        r#"{{ index .X "a" | }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <.X>: map has no entry for key "X""#,
    ),
    (r#"{{ printf "%s" .X .Y ) }}"#, r#"PARSEERR template: config:1: unexpected right paren"#),
    (r#"{{ $x := 1 }}{{ $x = }}"#, r#"PARSEERR template: config:1: missing value for command"#),
    (r#"{{ .X := 1 }}"#, r#"PARSEERR template: config:1: unexpected ":=" in operand"#),
    (r#"{{ nope 1 }}"#, r#"PARSEERR template: config:1: function "nope" not defined"#),
    (r#"{{ template .X }}"#, r#"PARSEERR template: config:1: unexpected ".X" in template clause"#),
    (r#"{{ else }}"#, r#"PARSEERR template: config:1: unexpected {{else}}"#),
    (r#"{{/* x }}"#, r#"PARSEERR template: config:1: unclosed comment"#),
    (r#"{{ @ }}"#, r#"PARSEERR template: config:1: unexpected "@" in command"#),
    (r#"{{ 'ab' }}"#, r#"PARSEERR template: config:1: malformed character constant: 'ab'"#),
    (r#"{{ range $i, $j, $k := .X }}{{ end }}"#, r#"PARSEERR template: config:1: too many declarations in range"#),
    (r#"{{ with }}{{ end }}"#, r#"PARSEERR template: config:1: missing value for with"#),
    (r#"{{ if .S }}{{ else if }}{{ end }}"#, r#"PARSEERR template: config:1: missing value for if"#),
    (r#"{{ .S | 3 }}"#, r#"PARSEERR template: config:1: non executable command in pipeline stage 2"#),
    (r#"{{ toJson .X }}{{ toDate "a" }"#, r#"PARSEERR template: config:1: unexpected "}" in operand"#),
    (
        r#"{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}"#,
        r#"PARSEERR template: config:1: template: multiple definition of template "a""#,
    ),
    (r#"{{ define "config" }}X{{ end }}"#, r#"X"#),
    (r#"{{ block "b" . }}{{ else }}{{ end }}"#, r#"PARSEERR template: config:1: unexpected {{else}} in block clause"#),
    (
        r#"{{ range .L }}{{ define "q" }}{{ end }}{{ end }}"#,
        r#"PARSEERR template: config:1: unexpected <define> in command"#,
    ),
    (r#"{{ "\x41\u00e9\101" }}|{{ `raw\n` }}"#, r#"AéA|raw\n"#),
    (r#"{{ "\q" }}"#, r#"PARSEERR template: config:1: invalid syntax"#),
    (r#"{{ 1 | printf "%d" | printf "%s" }}"#, r#"1"#),
    (r#"{{ .I | printf "%d %d" 7 }}"#, r#"7 3"#),
    (r#"{{ 1.5e400 }}"#, r#"PARSEERR template: config:1: illegal number syntax: "1.5e400""#),
    (r#"{{ 99999999999999999999 }}"#, r#"PARSEERR template: config:1: integer overflow: "99999999999999999999""#),
    (
        r#"{{ $ }}"#,
        r#"map[B:true Big:1e+21 E:[] EM:map[] F:1.5 Html:<a href='x'>&</a> I:3 L:[a 1 2.5 <nil> true] M:map[a:x b:1 c:[1 2]] N:<nil> Neg:-7 Obj:map[data:map[password:cGFzc3dvcmQ= user:YWRtaW4=] spec:map[template:map[spec:map[volumes:[map[persistentVolumeClaim:map[claimName:data-pvc]]]]]]] Options:map[pitr:2024-01-02T03:04:05Z] S:str Str2:Hello World foo_bar Time:2026-11-23T10:00:00.123456789Z U:ünïcödé ß Z:0]"#,
    ),
    (
        r#"{{ .L.x }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.L.x>: can't evaluate field x in type interface {}"#,
    ),
    (
        r#"{{ (index .L 4).x }}"#,
        r#"EXECERR template: config:1:13: executing "config" at <4>: can't evaluate field x in type bool"#,
    ),
    (r#"{{ true.x }}"#, r#"PARSEERR template: config:1: unexpected . after term "true""#),
    (r#"{{ nil.x }}"#, r#"PARSEERR template: config:1: unexpected . after term "nil""#),
    (r#"{{ (nil).x }}"#, r#"EXECERR template: config:1:4: executing "config" at <nil>: nil is not a command"#),
    (
        r#"{{ .M.a "arg" }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.M.a>: a is not a method but has arguments"#,
    ),
    (
        r#"{{ range $k, $v := 3 }}{{ end }}"#,
        r#"EXECERR template: config:1:19: executing "config" at <3>: can't use 3 to iterate over more than one variable"#,
    ),
    (
        r#"{{ template "t" . }}{{ define "t" }}{{ .Nope }}{{ end }}"#,
        r#"EXECERR template: config:1:39: executing "t" at <.Nope>: map has no entry for key "Nope""#,
    ),
    (r#"{{ define "t" }}"#, r#"PARSEERR template: config:1: unexpected EOF"#),
    (r#"  {{ .Nope }}{{ end }}{{ template "t" . }}"#, r#"PARSEERR template: config:1: unexpected {{end}}"#),
    (r#"a"#, r#"a"#),
    (
        r#"b {{ .M.zz }}"#,
        r#"EXECERR template: config:1:7: executing "config" at <.M.zz>: map has no entry for key "zz""#,
    ),
    (
        r#"{{ define "t" }}
  {{ .Nope }}{{ end }}{{ template "t" . }}"#,
        r#"EXECERR template: config:2:5: executing "t" at <.Nope>: map has no entry for key "Nope""#,
    ),
    (
        r#"a
b {{ .M.zz }}"#,
        r#"EXECERR template: config:2:7: executing "config" at <.M.zz>: map has no entry for key "zz""#,
    ),
    (
        r#"line1
{{ if .S }}
  {{ .Missing }}
{{ end }}"#,
        r#"EXECERR template: config:3:5: executing "config" at <.Missing>: map has no entry for key "Missing""#,
    ),
    (
        r#"{{ if .S }}
{{ .X
}}"#,
        r#"PARSEERR template: config:3: unexpected EOF"#,
    ),
    (
        r#"{{- range .L -}}
  {{ . }}
{{- end }}"#,
        r#"a12.5<no value>true"#,
    ),
    (
        r#"{{ .S
}}"#,
        r#"str"#,
    ),
];

pub(super) const GO_CASES2: &[(&str, &str)] = &[
    (
        r#"{{ printf "%v" .LL }}|{{ printf "%v" .LM }}|{{ printf "%s" .LM }}|{{ printf "%d" .LL }}|{{ printf "%v" .M }}"#,
        r#"[[1 2] [3]]|[map[k:v1] map[k:v2]]|[map[k:v1] map[k:v2]]|[[1 2] [3]]|map[a:x b:1 c:[1 2] d:map[e:f] n:<nil>]"#,
    ),
    (
        r#"{{ printf "%q" .Q }}|{{ quote .Q }}|{{ printf "%+q" .Q }}|{{ printf "%x" .Q }}|{{ printf "%X" "é" }}|{{ printf "%#q" "a`b" }}"#,
        r#""a\"b\\c\n\t\x00\u00adé😀"|"a\"b\\c\n\t\x00\u00adé😀"|"a\"b\\c\n\t\x00\u00ad\u00e9\U0001f600"|6122625c630a0900c2adc3a9f09f9880|C3A9|"a`b""#,
    ),
    (
        r#"{{ printf "%5t|%-7v|%07.2f|%+v|%x|%o|%#o|%#b|%O" true .I -1.5 .I .Neg 8 8 5 8 }}"#,
        r#" true|3      |-001.50|3|-7|10|010|0b101|0o10"#,
    ),
    (r#"{{ printf "%.3s|%.10s|%5.1s|%-5.2s|" "abcdef" "ab" "xyz" "xyz" }}"#, r#"abc|ab|    x|xy   |"#),
    (
        r#"{{ printf "%e|%E|%.0e|%g|%g|%g|%g|%.2g|%g" 0.0 1e-10 15.0 100000.0 1000000.0 1e-5 0.0001 123.0 .F }}"#,
        r#"0.000000e+00|1.000000E-10|2e+01|100000|1e+06|1e-05|0.0001|1.2e+02|1.5"#,
    ),
    (
        r#"{{ printf "%v %v %v %v %v" 1e-7 1e21 12345678.0 0.000123 -2.5e-8 }}"#,
        r#"1e-07 1e+21 1.2345678e+07 0.000123 -2.5e-08"#,
    ),
    (
        r#"{{ printf "%6.2f%%" 99.5 }}|{{ printf "%d%%" 5 }}|{{ printf "%%d" }}|{{ printf "%[1]s %[1]s" "x" }}|{{ printf "%[2]*[1]d" 12 5 }}|{{ printf "%.[2]d" 3 4 }}"#,
        r#" 99.50%|5%|%d|x x|   12|4"#,
    ),
    (
        r#"{{ printf "%s %s" "a" }}|{{ printf "%!s" }}|{{ printf "%-" 1 }}|{{ printf "%.*d" -1 5 }}|{{ printf "%*d" "x" 5 }}"#,
        r#"a %!s(MISSING)|%!!(MISSING)s|%!(NOVERB)%!(EXTRA int=1)|%!(BADPREC)5|%!(BADWIDTH)5"#,
    ),
    (
        r#"{{ printf "%v" .N }}|{{ printf "%s" .N }}|{{ printf "%v|%d" .L .L }}"#,
        r#"<nil>|%!s(<nil>)|[a 1 2.5 <nil> true]|[%!d(string=a) 1 %!d(float64=2.5) <nil> %!d(bool=true)]"#,
    ),
    (
        r#"{{ print "a" 1 2 "b" "c" 3.5 true nil .L }}|{{ println }}|{{ print }}"#,
        r#"a1 2bc3.5 true <nil> [a 1 2.5 <nil> true]|
|"#,
    ),
    (r#"{{ range $i, $e := .LM }}{{ $i }}{{ $e.k }}{{ end }}"#, r#"0v11v2"#),
    (r#"{{ range $k, $v := .M }}{{ if eq $k "b" }}{{ break }}{{ end }}{{ $k }}{{ end }}"#, r#"a"#),
    (r#"{{ range .LL }}{{ range . }}{{ . }}{{ end }};{{ end }}"#, r#"12;3;"#),
    (r#"{{ range $x := .L }}{{ end }}{{ $x }}"#, r#"PARSEERR template: config:1: undefined variable "$x""#),
    (r#"{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}"#, r#"PARSEERR template: config:1: undefined variable "$y""#),
    (r#"{{ $z := 0 }}{{ range .E }}{{ $z = 1 }}{{ end }}{{ $z }}"#, r#"0"#),
    (r#"{{ $z := 0 }}{{ range .LL }}{{ $z = . }}{{ end }}{{ $z }}"#, r#"[3]"#),
    (r#"{{ $i := 0 }}{{ range $i = .L }}{{ end }}{{ $i }}"#, r#"true"#),
    (r#"{{ $i := 0 }}{{ $e := 0 }}{{ range $i, $e = .L }}{{ end }}{{ $i }}-{{ $e }}"#, r#"4-true"#),
    (
        r#"{{ with $v := .M.a }}{{ $v }}{{ end }}|{{ with .N }}x{{ else }}none{{ end }}|{{ with .E }}{{ else with .EM }}{{ else }}both-empty{{ end }}"#,
        r#"x|none|both-empty"#,
    ),
    (
        r#"{{ if and .S (eq .I 3) }}yes{{ end }}|{{ if or .N .E }}y{{ else }}n{{ end }}|{{ if not .E }}ne{{ end }}"#,
        r#"yes|n|ne"#,
    ),
    (
        r#"{{ if eq .M.n nil }}nil{{ end }}|{{ .M.n }}|{{ print .M.n }}|{{ .M.d.e }}|{{ .M.d }}"#,
        r#"nil|<no value>|<nil>|f|map[e:f]"#,
    ),
    (
        r#"{{ .M.n.x }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.M.n.x>: nil pointer evaluating interface {}.x"#,
    ),
    (
        r#"{{ index .M "n" "x" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .M "n" "x">: error calling index: index of nil pointer"#,
    ),
    (r#"{{ index .LL 0 1 }}|{{ index .LM 1 "k" }}|{{ index .M "d" "e" }}"#, r#"2|v2|f"#),
    (
        r#"{{ index .LL 0 2 }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .LL 0 2>: error calling index: reflect: slice index out of range"#,
    ),
    (
        r#"{{ index .LL "a" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .LL "a">: error calling index: cannot index slice/array with type string"#,
    ),
    (
        r#"{{ index .LL nil }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .LL nil>: error calling index: cannot index slice/array with nil"#,
    ),
    (r#"{{ len .Q }}|{{ len .M.d }}|{{ len (index .LL 0) }}"#, r#"16|1|2"#),
    (
        r#"{{ (index .LM 0).k }}|{{ (index .LM 0).zz }}"#,
        r#"EXECERR template: config:1:36: executing "config" at <0>: map has no entry for key "zz""#,
    ),
    (
        r#"{{ $m := .M }}{{ $m.a }}|{{ $m.zz }}"#,
        r#"EXECERR template: config:1:30: executing "config" at <$m.zz>: map has no entry for key "zz""#,
    ),
    (
        r#"{{ .M.c.x }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.M.c.x>: can't evaluate field x in type interface {}"#,
    ),
    (r#"{{ .L | first | upper }}"#, r#"A"#),
    (r#"{{ .I | add 1 | mul 2 }}"#, r#"8"#),
    (r#"{{ "x" | print "a" "b" }}"#, r#"abx"#),
    (r#"{{ .S | printf "%s-%s" "p" }}"#, r#"p-str"#),
    (r#"{{ 1 | eq 1 }}|{{ 2 | lt 1 }}|{{ "a" | ne "b" }}"#, r#"true|true|true"#),
    (r#"{{ .S | and 1 }}|{{ .N | or "d" }}|{{ .S | not }}"#, r#"str|d|false"#),
    (r#"{{ nil | print }}"#, r#"EXECERR template: config:1:3: executing "config" at <nil>: nil is not a command"#),
    (r#"{{ . | len }}"#, r#"13"#),
    (r#"{{ $.S }}|{{ with .M }}{{ $.S }}{{ end }}"#, r#"str|str"#),
    (
        r#"{{ toDate "2006-01-02T15:04:05.000Z" "2024-03-01T10:20:30.12Z" }}|{{ toDate "2006-01-02T15:04:05.000Z" "2024-03-01T10:20:30.123Z" }}|{{ toDate "2006-01-02T15:04:05,999Z" "2024-03-01T10:20:30,5Z" }}|{{ toDate "2006-01-02T15:04:05Z" "2024-03-01T10:20:30.5Z" }}"#,
        r#"0001-01-01 00:00:00 +0000 UTC|2024-03-01 10:20:30.123 +0000 UTC|2024-03-01 10:20:30.5 +0000 UTC|2024-03-01 10:20:30.5 +0000 UTC"#,
    ),
    (
        r#"{{ toDate "Jan 2 2006" "feb 29 2024" }}|{{ toDate "Jan 2 2006" "Feb 29 2023" }}|{{ toDate "January 2, 2006" "March 5, 2021" }}|{{ toDate "Mon Jan 2" "Fri Mar 5" }}|{{ toDate "3:04PM" "12:30AM" }}|{{ toDate "3:04pm" "12:30pm" }}"#,
        r#"2024-02-29 00:00:00 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|2021-03-05 00:00:00 +0000 UTC|0000-03-05 00:00:00 +0000 UTC|0000-01-01 00:30:00 +0000 UTC|0000-01-01 12:30:00 +0000 UTC"#,
    ),
    (
        r#"{{ toDate "2006-01-02 -07" "2021-06-01 +05" }}|{{ toDate "2006-01-02 Z07:00:00" "2021-06-01 +01:30:15" }}|{{ toDate "2006-01-02 -0700 MST" "2021-06-01 +0000 UTC" }}|{{ toDate "2006-01-02 MST" "2021-06-01 CEST" }}|{{ toDate "2006-01-02 MST" "2021-06-01 ABCDEF" }}"#,
        r#"2021-06-01 00:00:00 +0500 +0500|2021-06-01 00:00:00 +0130 +0130|2021-06-01 00:00:00 +0000 UTC|2021-06-01 00:00:00 +0000 CEST|0001-01-01 00:00:00 +0000 UTC"#,
    ),
    (
        r#"{{ toDate "2006-01-02T15:04:05Z07:00" "2021-06-01T24:00:00Z" }}|{{ toDate "06-1-2" "21-6-1" }}|{{ toDate "2006 __2" "2024 366" }}|{{ toDate "_2 Jan" " 5 Feb" }}"#,
        r#"0001-01-01 00:00:00 +0000 UTC|2021-06-01 00:00:00 +0000 UTC|2024-12-31 00:00:00 +0000 UTC|0000-02-05 00:00:00 +0000 UTC"#,
    ),
    (
        r#"{{ $t := toDate "2006-01-02T15:04:05.999999999Z07:00" "2026-11-23T10:00:00.123456789+05:30" }}{{ $t }}|{{ $t | date "2006-01-02T15:04:05.999999999Z07:00" }}|{{ toJson $t }}|{{ $t.Hour }}|{{ $t.UTC }}|{{ $t.Nanosecond }}|{{ $t.YearDay }}|{{ $t.Weekday }}|{{ $t.Month }}|{{ $t.IsZero }}"#,
        r#"2026-11-23 10:00:00.123456789 +0530 +0530|2026-11-23T04:30:00.123456789Z|"2026-11-23T10:00:00.123456789+05:30"|10|2026-11-23 04:30:00.123456789 +0000 UTC|123456789|327|Monday|November|false"#,
    ),
    (
        r#"{{ (toDate "2006" "x").IsZero }}|{{ toDate "2006" "x" | unixEpoch }}|{{ toJson (toDate "2006" "x") }}"#,
        r#"true|-62135596800|"0001-01-01T00:00:00Z""#,
    ),
    (
        r#"{{ toDate "2006-01-02" "2024-03-01" | dateModify "1h30m" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "-90s" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "1.5h" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "100ms" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "1µs" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "+2h" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "0" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify "1.h" }}|{{ toDate "2006-01-02" "2024-03-01" | dateModify ".5m" }}"#,
        r#"2024-03-01 01:30:00 +0000 UTC|2024-02-29 23:58:30 +0000 UTC|2024-03-01 01:30:00 +0000 UTC|2024-03-01 00:00:00.1 +0000 UTC|2024-03-01 00:00:00.000001 +0000 UTC|2024-03-01 02:00:00 +0000 UTC|2024-03-01 00:00:00 +0000 UTC|2024-03-01 01:00:00 +0000 UTC|2024-03-01 00:00:30 +0000 UTC"#,
    ),
    (r#"{{ date "2006" .S | len }}|{{ date "2006" 1.5 | len }}"#, r#"4|4"#),
    (
        r#"{{ dateModify "1h" .S }}"#,
        r#"EXECERR template: config:1:19: executing "config" at <.S>: wrong type for value; expected time.Time; got string"#,
    ),
    (
        r#"{{ unixEpoch 5 }}"#,
        r#"EXECERR template: config:1:13: executing "config" at <5>: can't handle 5 for arg of type time.Time"#,
    ),
    (
        r#"{{ hasKey .L "a" }}"#,
        r#"EXECERR template: config:1:10: executing "config" at <.L>: wrong type for value; expected map[string]interface {}; got []interface {}"#,
    ),
    (
        r#"{{ keys .S }}"#,
        r#"EXECERR template: config:1:8: executing "config" at <.S>: wrong type for value; expected map[string]interface {}; got string"#,
    ),
    (
        r#"{{ set .N "a" 1 }}"#,
        r#"EXECERR template: config:1:7: executing "config" at <.N>: wrong type for value; expected map[string]interface {}; got interface {}"#,
    ),
    (r#"{{ pick .M 1 }}"#, r#"EXECERR template: config:1:11: executing "config" at <1>: expected string; found 1"#),
    (
        r#"{{ merge .M .S }}"#,
        r#"EXECERR template: config:1:12: executing "config" at <.S>: wrong type for value; expected map[string]interface {}; got string"#,
    ),
    (
        r#"{{ urlJoin (dict "host" 1) }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <urlJoin (dict "host" 1)>: error calling urlJoin: unable to parse host key, must be of type string, but int found"#,
    ),
    (
        r#"{{ deepEqual .M .M }}|{{ uniq .LM }}|{{ without .L nil 1 }}|{{ has nil .L }}|{{ compact .L }}"#,
        r#"true|[map[k:v1] map[k:v2]]|[a 2.5 true]|true|[a 1 2.5 true]"#,
    ),
    (
        r#"{{ default 5 .M.n }}|{{ default .S .M.zz }}"#,
        r#"EXECERR template: config:1:37: executing "config" at <.M.zz>: map has no entry for key "zz""#,
    ),
    (r#"{{ coalesce }}|{{ list }}|{{ dict }}|{{ tuple }}"#, r#"<no value>|[]|map[]|[]"#),
    (
        r#"{{ empty .M.d }}|{{ empty .LL }}|{{ empty .F }}|{{ empty (toDate "2006" "2020") }}"#,
        r#"false|false|false|false"#,
    ),
    (
        r#"{{ quote }}|{{ squote .L }}|{{ cat }}|{{ cat .L .M }}"#,
        r#"|'[a 1 2.5 <nil> true]'||[a 1 2.5 <nil> true] map[a:x b:1 c:[1 2] d:map[e:f] n:<nil>]"#,
    ),
    (
        r#"{{ round -2.5 0 }}|{{ round 1.005 2 }}|{{ round 12345.6789 -2 }}|{{ ceil -1.5 }}|{{ floor "x" }}|{{ div -7 2 }}|{{ mod -7 3 }}|{{ max }}"#,
        r#"EXECERR template: config:1:130: executing "config" at <max>: wrong number of args for max: want at least 1 got 0"#,
    ),
    (
        r#"{{ max }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <max>: wrong number of args for max: want at least 1 got 0"#,
    ),
    (
        r#"{{ split "" "abc" }}|{{ splitList "" "abc" }}|{{ splitn "," 0 "a,b" }}|{{ splitn "," -1 "a,b" }}|{{ splitn "" 2 "abc" }}|{{ split "," "" }}"#,
        r#"map[_0:a _1:b _2:c]|[a b c]|map[]|map[_0:a _1:b]|map[_0:a _1:bc]|map[_0:]"#,
    ),
    (
        r#"{{ title "ünicode ïs fun" }}|{{ upper "straße" }}|{{ lower "ÀÉÎ" }}|{{ initials "  a  b" }}|{{ swapcase "aBc dEF" }}|{{ untitle "ABC DEF" }}"#,
        r#"Ünicode Ïs Fun|STRAßE|àéî|ab|AbC Def|aBC dEF"#,
    ),
    (
        r#"{{ abbrev 4 "abcdefgh" }}|{{ abbrev 10 "short" }}|{{ abbrevboth 10 7 "abcdefghijklmnopqrstuvwxyz" }}|{{ abbrevboth 0 4 "abcdefg" }}|{{ abbrevboth 1 5 "abcdefg" }}"#,
        r#"a...|short|...k...|a...|abcdefg"#,
    ),
    (
        r#"{{ wrap 10 "" }}|{{ wrap 0 "a b c" }}|{{ wrapWith 3 "|" "abcdefgh" }}|{{ indent 0 "x" }}|{{ nindent 1 "" }}"#,
        r#"|a
b
c|abc|def|gh|x|
 "#,
    ),
    (
        r#"{{ snakecase "" }}|{{ snakecase "ID" }}|{{ snakecase "userID2FA" }}|{{ kebabcase "Some Title_here" }}|{{ camelcase "a__b" }}|{{ camelcase "x" }}|{{ snakecase "a1B" }}"#,
        r#"|id|user_id_2fa|some-title-here|A_B||a_1b"#,
    ),
    (
        r#"{{ regexReplaceAll "(?P<first>\\w+) (?P<last>\\w+)" "John Smith" "${last}, ${first}" }}|{{ regexReplaceAll "a" "banana" "$1x" }}|{{ regexReplaceAll "(a)" "banana" "$$" }}|{{ regexFindAll "[[:alpha:]]+" "ab1cd" -1 }}|{{ regexMatch "\\bfoo\\b" "a foo b" }}|{{ regexSplit "," "a,b,c" 2 }}|{{ regexSplit "," "" -1 }}|{{ regexFindAll "." "abc" 0 }}"#,
        r#"Smith, John|bnn|b$n$n$|[ab cd]|true|[a b,c]|[]|[]"#,
    ),
    (
        r#"{{ urlParse "http://[::1]:80/x" }}|{{ urlParse "/rel/path?x=y" }}|{{ urlParse "//host/p" }}|{{ urlParse "a:b" }}"#,
        r#"map[fragment: host:[::1]:80 hostname:::1 opaque: path:/x query: scheme:http userinfo:]|map[fragment: host: hostname: opaque: path:/rel/path query:x=y scheme: userinfo:]|map[fragment: host:host hostname:host opaque: path:/p query: scheme: userinfo:]|map[fragment: host: hostname: opaque:b path: query: scheme:a userinfo:]"#,
    ),
    (
        r#"{{ urlParse ":bad" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <urlParse ":bad">: error calling urlParse: unable to parse url: parse ":bad": missing protocol scheme"#,
    ),
    (
        r#"{{ urlParse "ht tp://x" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <urlParse "ht tp://x">: error calling urlParse: unable to parse url: parse "ht tp://x": first path segment in URL cannot contain colon"#,
    ),
    (
        r#"{{ b64dec "YQ" }}|{{ b64dec "YQ=" }}|{{ b64dec "YQ==" }}|{{ b64dec "YQ==YQ==" }}|{{ b64dec "" }}|{{ b64enc "" }}|{{ b32dec "ME======" }}|{{ b32dec "ME=====" }}|{{ b32dec "MFRGG===" }}|{{ b32dec "MFRGGZDF" }}"#,
        r#"illegal base64 data at input byte 0|illegal base64 data at input byte 3|a|illegal base64 data at input byte 4|||a|illegal base32 data at input byte 7|abc|abcde"#,
    ),
    (
        r#"{{ sha256sum "" }}|{{ sha1sum "" }}|{{ adler32sum "" }}|{{ adler32sum "Wikipedia" }}"#,
        r#"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855|da39a3ee5e6b4b0d3255bfef95601890afd80709|1|300286872"#,
    ),
    (
        r#"{{ semver "1.2.3" | toJson }}|{{ (semver "v2").String }}|{{ typeOf (semver "1.0.0") }}|{{ semverCompare "~1" "1.9.9" }}|{{ semverCompare "~1.2.3" "1.3.0" }}|{{ semverCompare "<2.x" "2.1.0" }}|{{ semverCompare "<=2.x" "2.9.0" }}|{{ semverCompare "=1.2.3-alpha" "1.2.3-alpha" }}|{{ semverCompare "*" "0.0.1" }}|{{ semverCompare ">1.0.0-alpha" "1.0.0-beta" }}"#,
        r#""1.2.3"|2.0.0|*semver.Version|true|false|true|true|true|true|true"#,
    ),
    (r#"{{ "\a\b\f\v" | printf "%q" }}|{{ `a"#, r#"PARSEERR template: config:1: unterminated raw quoted string"#),
    (r#"b` }}"#, r#"b` }}"#),
    (r#"{{/* only comment */}}"#, r#""#),
    (r#"{{- /* trimmed comment */ -}}"#, r#""#),
    (r#" x {{- /* c */}} y {{/* c */ -}} z"#, r#" x y z"#),
    (
        r#"{{ define "rec" }}{{ if . }}{{ . }}{{ template "rec" (slice . 1) }}{{ end }}{{ end }}{{ template "rec" (list 1 2 3) }}"#,
        r#"[1 2 3][2 3][3]"#,
    ),
    (
        r#"{{ template "t" .M }}{{ define "t" }}{{ .a }}{{ .zz }}{{ end }}"#,
        r#"EXECERR template: config:1:48: executing "t" at <.zz>: map has no entry for key "zz""#,
    ),
    (
        r#"{{ block "x" . }}{{ .S }}{{ end }}|{{ template "x" .M }}"#,
        r#"EXECERR template: config:1:20: executing "x" at <.S>: map has no entry for key "S""#,
    ),
    (r#"{{ define "t2" }}{{ $ }}{{ end }}{{ template "t2" 5 }}"#, r#"5"#),
    (r#"{{ if .S }}{{ $v := 1 }}{{ else }}{{ $v }}{{ end }}"#, r#""#),
    (
        r#"{{ .S.Foo.Bar }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.S.Foo.Bar>: can't evaluate field Foo in type interface {}"#,
    ),
    (r#"{{ printf "%v" (index .L 3) }}|{{ index .L 3 }}|{{ (index .L 3) }}"#, r#"<nil>|<no value>|<no value>"#),
    (
        r#"{{ .L.foo }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.L.foo>: can't evaluate field foo in type interface {}"#,
    ),
    (
        r#"{{ (1).x }}"#,
        r#"EXECERR template: config:1:4: executing "config" at <1>: can't evaluate field x in type int"#,
    ),
    (
        r#"{{ .I | .S }}"#,
        r#"EXECERR template: config:1:8: executing "config" at <.S>: S is not a method but has arguments"#,
    ),
    (
        r#"{{ $x := 1 }}{{ $x 2 }}"#,
        r#"EXECERR template: config:1:16: executing "config" at <$x>: can't give argument to non-function $x"#,
    ),
    (
        r#"{{ $x := 1 }}{{ 2 | $x }}"#,
        r#"EXECERR template: config:1:20: executing "config" at <$x>: can't give argument to non-function $x"#,
    ),
    (
        r#"{{ .M.a 1 }}"#,
        r#"EXECERR template: config:1:5: executing "config" at <.M.a>: a is not a method but has arguments"#,
    ),
    (
        r#"{{ "s" | .M.a }}"#,
        r#"EXECERR template: config:1:11: executing "config" at <.M.a>: a is not a method but has arguments"#,
    ),
    (r#"{{ with $x := 3 }}{{ $x }}{{ end }}"#, r#"3"#),
    (r#"{{ 3 | printf "%d" | len }}"#, r#"1"#),
    (
        r#"{{ len 3 | printf "%d" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <len 3>: error calling len: len of type int"#,
    ),
    (
        r#"{{ call nil }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <call nil>: error calling call: call of nil"#,
    ),
    (
        r#"{{ call .N }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <call .N>: error calling call: call of nil"#,
    ),
    (
        r#"{{ eq 1 "1" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <eq 1 "1">: error calling eq: incompatible types for comparison: int and string"#,
    ),
    (
        r#"{{ lt .L .L }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <lt .L .L>: error calling lt: invalid type for comparison"#,
    ),
    (r#"{{ le "a" "a" }}|{{ ge 3 3 }}|{{ gt 3 3 }}"#, r#"true|true|false"#),
    (
        r#"{{ not }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <not>: wrong number of args for not: want 1 got 0"#,
    ),
    (r#"{{ and 0 }}|{{ or 1 }}"#, r#"0|1"#),
    (r#"{{ html }}|{{ js }}|{{ urlquery }}|{{ urlquery "é ~-_." }}|{{ html "\u0000" }}"#, r#"|||%C3%A9+~-_.|�"#),
    (
        r#"{{ range 0 }}x{{ else }}zero{{ end }}|{{ range -2 }}x{{ else }}neg{{ end }}|{{ range 2.5 }}x{{ end }}"#,
        r#"EXECERR template: config:1:85: executing "config" at <2.5>: range can't iterate over 2.5"#,
    ),
    (r#"{{ range .M.d }}{{ . }}{{ end }}|{{ range $k, $v := .M.d }}{{ $k }}{{ end }}"#, r#"f|e"#),
    (r#"{{ range $i, $e := .LL }}{{ range $e }}{{ $i }}{{ . }}{{ end }}{{ end }}"#, r#"010213"#),
    (r#"{{ range .L }}{{ break }}{{ end }}done"#, r#"done"#),
    (r#"{{ if .S }}{{ break }}{{ end }}"#, r#"PARSEERR template: config:1: {{break}} outside {{range}}"#),
    (
        r#"{{ range .L }}{{ define "z" }}{{ end }}{{ end }}"#,
        r#"PARSEERR template: config:1: unexpected <define> in command"#,
    ),
    (r#"{{ continue }}"#, r#"PARSEERR template: config:1: {{continue}} outside {{range}}"#),
    (
        r#"a
  {{ range .L }}
    {{ .Foo }}
  {{ end }}"#,
        r#"EXECERR template: config:3:7: executing "config" at <.Foo>: can't evaluate field Foo in type interface {}"#,
    ),
    (
        r#"{{ if .S }}
{{ end"#,
        r#"PARSEERR template: config:2: unclosed action"#,
    ),
    (
        r#"x
{{ printf
 "%d"
 .S }}"#,
        r#"x
%!d(string=str)"#,
    ),
    (
        r#"{{ .S | upper
 | nope }}"#,
        r#"PARSEERR template: config:2: function "nope" not defined"#,
    ),
    (
        r#"{{
.S
}}"#,
        r#"str"#,
    ),
    (
        r#"{{ "a"
}}"#,
        r#"a"#,
    ),
    (
        r#"one
two {{ .Missing }}"#,
        r#"EXECERR template: config:2:7: executing "config" at <.Missing>: map has no entry for key "Missing""#,
    ),
    (
        r#"{{ define "t" }}

{{ .Missing }}{{ end }}{{ template "t" . }}"#,
        r#"EXECERR template: config:3:3: executing "t" at <.Missing>: map has no entry for key "Missing""#,
    ),
    (
        r#"{{- if .S -}}
   yes
{{- else -}}
   no
{{- end -}}
"#,
        r#"yes"#,
    ),
    (
        r#"{{ range $i, $v := .L }}
{{- if $i }}, {{ end }}{{ $v }}
{{- end }}"#,
        r#"a, 1, 2.5, <no value>, true"#,
    ),
];

pub(super) const GO_ZONED: &[(&str, &str)] = &[
    (
        r#"{{ date "2006-01-02" 86400 }}|{{ htmlDate 0 }}|{{ dateInZone "2006-01-02 15:04 MST" 1700000000 "America/New_York" }}|{{ dateInZone "15:04 MST" 1690000000 "Europe/Paris" }}|{{ date_in_zone "15:04 MST" 0 "Nope/Zone" }}|{{ htmlDateInZone 0 "Asia/Tokyo" }}"#,
        r#"1970-01-02|1970-01-01|2023-11-14 17:13 EST|06:26 CEST|00:00 UTC|1970-01-01"#,
    ),
    (
        r#"{{ toDate "2006-01-02 15:04" "2024-03-10 06:59" | dateInZone "2006-01-02 15:04 MST" "America/New_York" }}|{{ toDate "2006-01-02 15:04" "2024-03-10 07:00" | dateInZone "15:04 MST -07:00" "America/New_York" }}|{{ toDate "2006-01-02 15:04" "2024-11-03 06:00" | dateInZone "15:04 MST" "America/New_York" }}"#,
        r#"EXECERR template: config:1:84: executing "config" at <"America/New_York">: wrong type for value; expected string; got time.Time"#,
    ),
    (
        r#"{{ toDate "2006-01-02" "2024-07-01" | dateInZone "15:04 MST" "Australia/Sydney" }}|{{ toDate "2006-01-02" "2024-01-01" | dateInZone "15:04 MST" "Australia/Sydney" }}|{{ toDate "2006-01-02" "2090-07-01" | dateInZone "15:04 MST" "Europe/London" }}|{{ toDate "2006-01-02" "2090-01-01" | dateInZone "15:04 MST" "Asia/Kolkata" }}|{{ toDate "2006-01-02" "1900-01-01" | dateInZone "15:04:05 MST" "Europe/Amsterdam" }}"#,
        r#"EXECERR template: config:1:61: executing "config" at <"Australia/Sydney">: wrong type for value; expected string; got time.Time"#,
    ),
];

pub(super) const GO_STRUCT_CASES: &[(&str, &str)] = &[
    (
        r#"{{ toJson .Profile }}"#,
        r#"{"Location":{"type":"s3Compliant","bucket":"b","endpoint":"http://minio:9000","prefix":"p/\u003cx\u003e\u0026","region":"us-east-1"},"Credential":{"Type":"keyPair","KeyPair":{"ID":"AK","Secret":"SK"}},"SkipSSLVerify":false}"#,
    ),
    (
        r#"{{ toPrettyJson .Profile.Location }}"#,
        r#"{
  "type": "s3Compliant",
  "bucket": "b",
  "endpoint": "http://minio:9000",
  "prefix": "p/\u003cx\u003e\u0026",
  "region": "us-east-1"
}"#,
    ),
    (
        r#"{{ .Profile.Location.Type }}|{{ .Profile.Credential.KeyPair.ID }}|{{ .Profile.SkipSSLVerify }}"#,
        r#"s3Compliant|AK|false"#,
    ),
    (r#"{{ .Profile.Location.Region | quote }}"#, r#""us-east-1""#),
    (r#"{{ .StatefulSet.Name | upper | replace "-" "_" }}"#, r#"MY_DB"#),
    (
        r#"{{ range .StatefulSet.Pods }}{{ . }};{{ end }}|{{ len .StatefulSet.Pods }}|{{ index .StatefulSet.Pods 0 }}"#,
        r#"my-db-0;my-db-1;|2|my-db-0"#,
    ),
    (
        r#"{{ .Deployment.Name }}"#,
        r#"EXECERR template: config:1:14: executing "config" at <.Deployment.Name>: nil pointer evaluating *param.StatefulSetParams.Name"#,
    ),
    (r#"{{ .Deployment }}"#, r#"<nil>"#),
    (r#"{{ if .Deployment }}d{{ else }}no-d{{ end }}"#, r#"no-d"#),
    (r#"{{ toJson .Deployment }}"#, r#"null"#),
    (
        r#"{{ .Nope }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <.Nope>: can't evaluate field Nope in type param.TemplateParams"#,
    ),
    (
        r#"{{ .Profile.Nope }}"#,
        r#"EXECERR template: config:1:11: executing "config" at <.Profile.Nope>: can't evaluate field Nope in type *param.Profile"#,
    ),
    (
        r#"{{ .Options.nope }}"#,
        r#"EXECERR template: config:1:11: executing "config" at <.Options.nope>: map has no entry for key "nope""#,
    ),
    (r#"{{ .Options.pitr }}"#, r#"2024-01-02T03:04:05Z"#),
    (r#"{{ index .Options "nope" }}|{{ index .Secrets "pg" }}"#, r#"|{map[password:[115 51 99 114 51 116]] Opaque}"#),
    (r#"{{ index .Secrets.pg.Data "password" | toString }}"#, r#"s3cr3t"#),
    (r#"{{ index .Secrets.pg.Data "password" }}"#, r#"[115 51 99 114 51 116]"#),
    (r#"{{ .Secrets.pg.Data.password }}"#, r#"[115 51 99 114 51 116]"#),
    (r#"{{ toJson .Secrets.pg.Data }}"#, r#"{"password":"czNjcjN0"}"#),
    (r#"{{ len .Secrets.pg.Data.password }}"#, r#"6"#),
    (r#"{{ .Object.metadata.name }}"#, r#"obj"#),
    (
        r#"{{ .Object.metadata.nope }}"#,
        r#"EXECERR template: config:1:10: executing "config" at <.Object.metadata.nope>: map has no entry for key "nope""#,
    ),
    (r#"{{ .Profile.Location }}"#, r#"{s3Compliant b http://minio:9000 p/<x>& us-east-1}"#),
    (
        r#"{{ len .Profile }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <len .Profile>: error calling len: len of type param.Profile"#,
    ),
    (
        r#"{{ index .Profile "Location" }}"#,
        r#"EXECERR template: config:1:3: executing "config" at <index .Profile "Location">: error calling index: can't index item of type param.Profile"#,
    ),
    (r#"{{ .Time | date "2006" | len }}"#, r#"4"#),
    (
        r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" .Time | date "2006-01-02T15-04-05" }}"#,
        r#"2026-11-23T10-00-00"#,
    ),
    (
        r#"{{ upper .Profile }}"#,
        r#"EXECERR template: config:1:9: executing "config" at <.Profile>: wrong type for value; expected string; got *param.Profile"#,
    ),
    (
        r#"{{ hasKey .Options "pitr" }}"#,
        r#"EXECERR template: config:1:10: executing "config" at <.Options>: wrong type for value; expected map[string]interface {}; got map[string]string"#,
    ),
    (r#"{{ eq .Profile.Location.Type "s3Compliant" }}"#, r#"true"#),
    (r#"{{ eq .Profile .Profile }}"#, r#"true"#),
    (r#"{{ eq .Profile.Location .Profile.Location }}"#, r#"true"#),
    (r#"{{ printf "%v" .Profile.Location }}"#, r#"{s3Compliant b http://minio:9000 p/<x>& us-east-1}"#),
    (
        r#"{{ printf "%+v" .Profile.Location }}"#,
        r#"{Type:s3Compliant Bucket:b Endpoint:http://minio:9000 Prefix:p/<x>& Region:us-east-1}"#,
    ),
    (
        r#"{{ typeOf .Profile }}|{{ typeOf .Profile.Location }}|{{ kindOf .Profile }}|{{ kindOf .Profile.Location }}"#,
        r#"*param.Profile|param.Location|ptr|struct"#,
    ),
    (
        r#"{{ .Profile.Location.Type.Foo }}"#,
        r#"EXECERR template: config:1:11: executing "config" at <.Profile.Location.Type.Foo>: can't evaluate field Foo in type string"#,
    ),
    (r#"{{ with .Profile }}{{ .Location.Bucket }}{{ end }}"#, r#"b"#),
    (r#"{{ $p := .Profile }}{{ $p.Location.Prefix }}"#, r#"p/<x>&"#),
    (r#"{{ default "x" .Deployment }}"#, r#"x"#),
    (r#"{{ empty .Profile.Location }}|{{ empty .Deployment }}"#, r#"false|true"#),
    (
        r#"{{ .StatefulSet.Name.x }}"#,
        r#"EXECERR template: config:1:15: executing "config" at <.StatefulSet.Name.x>: can't evaluate field x in type string"#,
    ),
    (r#"{{ .Profile.Credential.KeyPair }}"#, r#"{AK SK}"#),
    (r#"{{ .Secrets.pg }}"#, r#"{map[password:[115 51 99 114 51 116]] Opaque}"#),
    (
        r#"{{ .Secrets.pg.Nope }}"#,
        r#"EXECERR template: config:1:11: executing "config" at <.Secrets.pg.Nope>: can't evaluate field Nope in type param.Secret"#,
    ),
    (
        r#"{{ .Secrets.nope }}"#,
        r#"EXECERR template: config:1:11: executing "config" at <.Secrets.nope>: map has no entry for key "nope""#,
    ),
    (r#"{{ toJson .Secrets.pg }}"#, r#"{"Data":{"password":"czNjcjN0"},"Type":"Opaque"}"#),
    (
        r#"{{ len .Options }}|{{ range $k, $v := .Options }}{{ $k }}={{ $v }}{{ end }}"#,
        r#"1|pitr=2024-01-02T03:04:05Z"#,
    ),
];
