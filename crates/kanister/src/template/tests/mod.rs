//! Tests. The golden cases (`tests/data/template-golden.json`, loaded by `golden`) hold
//! expectations produced by Go itself (`tools/template-golden`); the tests below them pin
//! the behaviours Kanister's blueprints depend on, with outputs written from Go's and
//! sprig's semantics. Nothing outside the tests imports this module.

mod golden;

use super::*;

fn out(src: &str, data: &Value) -> String {
    match render(src, data) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::Parse => format!("PARSEERR {e}"),
        Err(e) => format!("EXECERR {e}"),
    }
}

fn json_data(text: &str) -> Value {
    from_json(&serde_json::from_str(text).unwrap())
}

fn run_table<'a>(data: &Value, cases: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for (src, want) in cases {
        count += 1;
        let got = out(src, data);
        if got != want {
            failures.push(format!("template {src:?}\n   want {want:?}\n    got {got:?}"));
        }
    }
    assert!(count > 0, "no cases");
    assert!(failures.is_empty(), "{} of {} cases differ from Go:\n{}", failures.len(), count, failures.join("\n"));
}

#[test]
fn matches_go_on_json_data() {
    let fx = golden::fixture();
    for (name, data) in &fx.data {
        run_table(&from_json(data), fx.cases_on(name, false));
    }
}

#[test]
fn matches_go_in_named_zones() {
    // These need the system tz database, like Go's time.LoadLocation (without it both fall back to UTC).
    if !std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists() {
        return;
    }
    let fx = golden::fixture();
    let zoned: Vec<&golden::Case> = fx.cases.iter().filter(|c| c.zoned).collect();
    assert!(!zoned.is_empty());
    for (name, data) in &fx.data {
        if zoned.iter().any(|c| &c.data == name) {
            run_table(&from_json(data), fx.cases_on(name, true));
        }
    }
}

/// The `params` data set of the golden cases, as the TemplateParams builder would make it:
/// Go's `param.Example()` in `tools/template-golden/param` builds the same value from the
/// same Go types.
fn params() -> Value {
    let s = |x: &str| Value::from(x);
    let f = |k: &str, v: Value| (k.to_string(), v);
    let location = go_struct_named(
        "param.Location",
        vec![
            f("Type", s("s3Compliant")),
            f("Bucket", s("b")),
            f("Endpoint", s("http://minio:9000")),
            f("Prefix", s("p/<x>&")),
            f("Region", s("us-east-1")),
        ],
        r#"{"type":"s3Compliant","bucket":"b","endpoint":"http://minio:9000","prefix":"p/<x>&","region":"us-east-1"}"#
            .into(),
    );
    let key_pair = go_struct_named(
        "*param.KeyPair",
        vec![f("ID", s("AK")), f("Secret", s("SK"))],
        r#"{"ID":"AK","Secret":"SK"}"#.into(),
    );
    let credential = go_struct_named(
        "param.Credential",
        vec![f("Type", s("keyPair")), f("KeyPair", key_pair)],
        r#"{"Type":"keyPair","KeyPair":{"ID":"AK","Secret":"SK"}}"#.into(),
    );
    let profile = go_struct_named(
        "*param.Profile",
        vec![f("Location", location), f("Credential", credential), f("SkipSSLVerify", Value::Bool(false))],
        concat!(
            r#"{"Location":{"type":"s3Compliant","bucket":"b","endpoint":"http://minio:9000","prefix":"p/<x>&","region":"us-east-1"},"#,
            r#""Credential":{"Type":"keyPair","KeyPair":{"ID":"AK","Secret":"SK"}},"SkipSSLVerify":false}"#
        )
        .into(),
    );
    let sts = go_struct_named(
        "*param.StatefulSetParams",
        vec![
            f("Name", s("my-db")),
            f("Namespace", s("ns")),
            f("Pods", Value::List(vec![s("my-db-0"), s("my-db-1")].into())),
        ],
        r#"{"Name":"my-db","Namespace":"ns","Pods":["my-db-0","my-db-1"]}"#.into(),
    );
    let secret = go_struct_named(
        "param.Secret",
        vec![f("Data", go_map("map[string][]uint8", vec![f("password", go_bytes(b"s3cr3t"))])), f("Type", s("Opaque"))],
        r#"{"Data":{"password":"czNjcjN0"},"Type":"Opaque"}"#.into(),
    );
    go_struct_named(
        "param.TemplateParams",
        vec![
            f("StatefulSet", sts),
            f("Deployment", go_nil("*param.StatefulSetParams")),
            f("Profile", profile),
            f("Time", s("2026-11-23T10:00:00.123456789Z")),
            f("Options", go_map("map[string]string", vec![f("pitr", s("2024-01-02T03:04:05Z"))])),
            f("Object", from_json(&serde_json::json!({"metadata": {"name": "obj"}}))),
            f("Secrets", go_map("map[string]param.Secret", vec![f("pg", secret)])),
        ],
        String::new(),
    )
}

#[test]
fn matches_go_on_structs() {
    let fx = golden::fixture();
    run_table(&params(), fx.cases_on(golden::PARAMS, false));
}

#[test]
fn kanister_time_stamp_idiom() {
    let data = json_data(r#"{"Time":"2026-11-23T10:00:00.123456789Z"}"#);
    assert_eq!(
        render(r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" "2026-11-23T10:00:00.123456789Z" | date "2006-01-02T15-04-05" }}"#, &data)
            .unwrap(),
        "2026-11-23T10-00-00"
    );
    assert_eq!(
        render(
            r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" .Time | date "2006-01-02T15:04:05.999999999Z07:00" }}"#,
            &data
        )
        .unwrap(),
        "2026-11-23T10:00:00.123456789Z"
    );
    // A time value prints as Go's Time.String(); a zone offset converts to Local (UTC) in `date`.
    assert_eq!(
        render(r#"{{ toDate "2006-01-02T15:04:05.999999999Z07:00" .Time }}"#, &data).unwrap(),
        "2026-11-23 10:00:00.123456789 +0000 UTC"
    );
    assert_eq!(
        render(r#"{{ toDate "2006-01-02T15:04:05Z07:00" "2026-11-23T12:00:00+02:00" | date "15:04 MST" }}"#, &data)
            .unwrap(),
        "10:00 UTC"
    );
    // `date` of a string is `now` in sprig: only the shape is stable.
    let now = render(r#"{{ .Time | date "2006-01-02" }}"#, &data).unwrap();
    assert_eq!(now.len(), 10);
}

#[test]
fn profile_to_json_is_the_structs_own_json() {
    let p = params();
    assert_eq!(
        render("{{ toJson .Profile }}", &p).unwrap(),
        concat!(
            r#"{"Location":{"type":"s3Compliant","bucket":"b","endpoint":"http://minio:9000","prefix":"p/\u003cx\u003e\u0026","region":"us-east-1"},"#,
            r#""Credential":{"Type":"keyPair","KeyPair":{"ID":"AK","Secret":"SK"}},"SkipSSLVerify":false}"#
        )
    );
    // An unnamed go_struct works the same way; its JSON is independent of field access.
    let s =
        go_struct(vec![("Location".into(), from_json(&serde_json::json!({"Type": "s3"})))], r#"{"location":1}"#.into());
    let data = go_struct(vec![("P".into(), s)], String::new());
    assert_eq!(render("{{ toJson .P }}|{{ .P.Location.Type }}", &data).unwrap(), r#"{"location":1}|s3"#);
    assert_eq!(render("{{ toPrettyJson .P }}", &data).unwrap(), "{\n  \"location\": 1\n}");
    assert_eq!(
        out("{{ .P.Nope }}", &data),
        r#"EXECERR template: config:1:5: executing "config" at <.P.Nope>: can't evaluate field Nope in type struct"#
    );
    // The hidden key stays hidden.
    assert_eq!(render("{{ .P }}", &data).unwrap(), "{map[Type:s3]}");
}

#[test]
fn secret_data_to_string() {
    let p = params();
    assert_eq!(render(r#"{{ index .Secrets.pg.Data "password" | toString }}"#, &p).unwrap(), "s3cr3t");
    // Decoded text (as a plain string) works the same with toString.
    let data = json_data(r#"{"Secret":{"Data":{"password":"s3cr3t"}}}"#);
    assert_eq!(render(r#"{{ index .Secret.Data "password" | toString }}"#, &data).unwrap(), "s3cr3t");
    assert_eq!(render(r#"{{ index .Secret.Data "password" | len }}"#, &data).unwrap(), "6");
}

#[test]
fn trim_markers() {
    let data = json_data(r#"{"L":["a","b"]}"#);
    assert_eq!(render("a \n {{- \"x\" -}} \n b", &data).unwrap(), "axb");
    assert_eq!(render("{{- range .L }}\n  {{ . }}\n{{- end }}", &data).unwrap(), "\n  a\n  b");
    // `{{-3}}` is the number -3, not a trim marker.
    assert_eq!(render("a {{-3}}", &data).unwrap(), "a -3");
}

#[test]
fn range_over_a_map_is_sorted() {
    let data = json_data(r#"{"M":{"zeta":1,"alpha":2,"Mid":3,"beta":4}}"#);
    assert_eq!(
        render("{{ range $k, $v := .M }}{{ $k }}={{ $v }} {{ end }}", &data).unwrap(),
        "Mid=3 alpha=2 beta=4 zeta=1 "
    );
    assert_eq!(render("{{ .M }}", &data).unwrap(), "map[Mid:3 alpha:2 beta:4 zeta:1]");
}

#[test]
fn missing_keys_are_errors() {
    let data = json_data(r#"{"Options":{"a":"1"},"Object":{"spec":{}}}"#);
    let e = render("{{ .Missing }}", &data).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"template: config:1:3: executing "config" at <.Missing>: map has no entry for key "Missing""#
    );
    assert_eq!(e.kind(), ErrorKind::Exec);
    assert_eq!(e.undefined_key(), Some("Missing"));
    let e = render("x\n  {{ .Object.spec.replicas }}", &data).unwrap_err();
    assert_eq!(
        e.message(),
        r#"template: config:2:12: executing "config" at <.Object.spec.replicas>: map has no entry for key "replicas""#
    );
    assert_eq!(e.undefined_key(), Some("replicas"));
    // `index` of a missing key is not an error in Go.
    assert_eq!(render(r#"{{ index .Options "b" }}"#, &data).unwrap(), "<no value>");
    // missingkey=zero (Kanister's Wait conditions).
    assert_eq!(
        render_with("{{ .Missing }}|{{ .Options.b }}", &data, MissingKey::Zero).unwrap(),
        "<no value>|<no value>"
    );
    let e = render(r#"{{ upper 3 }}"#, &data).unwrap_err();
    assert_eq!(e.undefined_key(), None);
}

#[test]
fn syntax_and_unknown_function_errors() {
    let e = check("{{ nope 1 }}").unwrap_err();
    assert_eq!(e.to_string(), r#"template: config:1: function "nope" not defined"#);
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(render("{{ nope 1 }}", &Value::Nil).unwrap_err(), e);
    assert_eq!(check("{{ if .X }}a").unwrap_err().message(), "template: config:1: unexpected EOF");
    assert_eq!(check("a\n{{ .X").unwrap_err().message(), "template: config:2: unclosed action");
    assert_eq!(check("{{ .X }").unwrap_err().message(), r#"template: config:1: unexpected "}" in operand"#);
    assert_eq!(check("{{ $x }}").unwrap_err().message(), r#"template: config:1: undefined variable "$x""#);
    assert_eq!(check("{{ break }}").unwrap_err().message(), "template: config:1: {{break}} outside {{range}}");
    assert_eq!(
        check("{{ bcrypt \"x\" }}").unwrap_err().message(),
        r#"template: config:1: function "bcrypt" not defined"#
    );
    assert!(check("{{ range .L }}{{ if eq . 1 }}{{ break }}{{ end }}{{ end }}").is_ok());
    assert!(check("").is_ok());
    assert_eq!(render("", &Value::Nil).unwrap(), "");
}

#[test]
fn fips_replacements_error_as_kanister() {
    let e = render(r#"{{ derivePassword 1 "long" "pw" "user" "site" }}"#, &Value::Nil).unwrap_err();
    assert_eq!(
        e.message(),
        r#"template: config:1:3: executing "config" at <derivePassword 1 "long" "pw" "user" "site">: error calling derivePassword: sprig usage of 'derivePassword' is not allowed by kanister as it is not FIPS compatible"#
    );
    let e = render(r#"{{ genPrivateKey "dsa" }}"#, &Value::Nil).unwrap_err();
    assert!(
        e.message().ends_with(
            "sprig usage of 'genPrivateKey for dsa' is not allowed by kanister as it is not FIPS compatible"
        )
    );
    assert_eq!(render(r#"{{ genPrivateKey "ed25519" }}"#, &Value::Nil).unwrap(), "Unknown type ed25519");
}

#[test]
fn typed_nil_and_typed_map() {
    let p = params();
    assert_eq!(
        out("{{ .Deployment.Name }}", &p),
        r#"EXECERR template: config:1:14: executing "config" at <.Deployment.Name>: nil pointer evaluating *param.StatefulSetParams.Name"#
    );
    assert_eq!(
        render("{{ .Deployment }}|{{ toJson .Deployment }}|{{ typeOf .Deployment }}", &p).unwrap(),
        "<nil>|null|*param.StatefulSetParams"
    );
    assert_eq!(render(r#"{{ index .Options "nope" | len }}"#, &p).unwrap(), "0");
    // A struct field holding Value::Nil is a nil pointer of unknown type.
    let data = go_struct(vec![("PVC".into(), Value::Nil)], String::new());
    assert_eq!(render("{{ .PVC }}|{{ if .PVC }}y{{ else }}n{{ end }}", &data).unwrap(), "<nil>|n");
    assert!(out("{{ .PVC.Name }}", &data).ends_with("nil pointer evaluating interface {}.Name"));
}

#[test]
fn bytes_values() {
    let data = go_struct(vec![("B".into(), go_bytes(b"hi"))], String::new());
    assert_eq!(
        render(
            "{{ .B }}|{{ toString .B }}|{{ toJson .B }}|{{ len .B }}|{{ index .B 0 }}|{{ printf \"%s\" .B }}",
            &data
        )
        .unwrap(),
        "[104 105]|hi|\"aGk=\"|2|104|hi"
    );
    assert_eq!(render("{{ range .B }}{{ . }},{{ end }}", &data).unwrap(), "104,105,");
}

#[test]
fn set_rebinds_the_variable() {
    assert_eq!(
        render(r#"{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $_ := unset $d "a" }}{{ toJson $d }}"#, &Value::Nil)
            .unwrap(),
        r#"{"b":2}"#
    );
}

#[test]
fn function_list_is_sprig_v2_plus_builtins() {
    let names = function_names();
    for f in
        ["index", "toString", "toJson", "date", "toDate", "b64dec", "quote", "upper", "replace", "len", "eq", "and"]
    {
        assert!(names.contains(&f), "{f}");
    }
    // sprig v3 additions are absent in v2.22, as in Kanister.
    for f in ["fromJson", "toRawJson", "get", "dig", "randInt", "mustToJson", "bcrypt", "htpasswd", "seq", "duration"] {
        assert!(!names.contains(&f), "{f}");
    }
    // sprig v2.22.0's TxtFuncMap (as Go lists it) plus Go's builtins.
    let sprig = "abbrev abbrevboth add add1 adler32sum ago append atoi b32dec b32enc b64dec b64enc base biggest \
        buildCustomCert camelcase cat ceil clean coalesce compact concat contains date dateInZone dateModify \
        date_in_zone date_modify decryptAES deepCopy deepEqual default derivePassword dict dir div empty encryptAES \
        env expandenv ext fail first float64 floor genCA genPrivateKey genSelfSignedCert genSignedCert getHostByName \
        has hasKey hasPrefix hasSuffix hello htmlDate htmlDateInZone indent initial initials int int64 isAbs join \
        kebabcase keys kindIs kindOf last list lower max merge mergeOverwrite min mod mul nindent nospace now omit \
        pick pluck plural prepend push quote randAlpha randAlphaNum randAscii randNumeric regexFind regexFindAll \
        regexMatch regexReplaceAll regexReplaceAllLiteral regexSplit repeat replace rest reverse round semver \
        semverCompare set sha1sum sha256sum shuffle slice snakecase sortAlpha split splitList splitn squote sub \
        substr swapcase ternary title toDate toDecimal toJson toPrettyJson toString toStrings trim trimAll \
        trimPrefix trimSuffix trimall trunc tuple typeIs typeIsLike typeOf uniq unixEpoch unset until untilStep \
        untitle upper urlJoin urlParse uuidv4 values without wrap wrapWith";
    let builtins = "and call eq ge gt html index js le len lt ne not or print printf println urlquery";
    let mut want: Vec<&str> = sprig.split_whitespace().chain(builtins.split_whitespace()).collect();
    want.sort_unstable();
    assert_eq!(names, want);
}

#[test]
fn from_json_numbers() {
    let v = from_json(&serde_json::json!({"i": 3, "f": 1.5, "big": 18446744073709551615u64, "n": null}));
    assert_eq!(
        render("{{ .i }}|{{ .f }}|{{ .big }}|{{ .n }}|{{ typeOf .i }}|{{ typeOf .f }}", &v).unwrap(),
        "3|1.5|18446744073709551615|<no value>|int|float64"
    );
}
