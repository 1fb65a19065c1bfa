// Package param mirrors the Go types of Kanister's template parameters that the golden
// struct cases use (pkg/param in Kanister, trimmed to the fields the cases touch). The
// package is called param so that type names in outputs (`*param.Profile`,
// `can't evaluate field Nope in type param.TemplateParams`) read as in Kanister.
// params() in crates/kanister/src/template/tests/mod.rs builds the same value in Rust.
package param

// TemplateParams is the data of the struct cases (a value, not a pointer).
type TemplateParams struct {
	StatefulSet *StatefulSetParams
	Deployment  *StatefulSetParams
	Profile     *Profile
	Time        string
	Options     map[string]string
	Object      map[string]interface{}
	Secrets     map[string]Secret
}

// StatefulSetParams is .StatefulSet (and, nil, .Deployment).
type StatefulSetParams struct {
	Name      string
	Namespace string
	Pods      []string
}

// Profile is .Profile.
type Profile struct {
	Location      Location
	Credential    Credential
	SkipSSLVerify bool
}

// Location is .Profile.Location, with the CRD's lower-case JSON names.
type Location struct {
	Type     string `json:"type"`
	Bucket   string `json:"bucket"`
	Endpoint string `json:"endpoint"`
	Prefix   string `json:"prefix"`
	Region   string `json:"region"`
}

// Credential is .Profile.Credential.
type Credential struct {
	Type    string
	KeyPair *KeyPair
}

// KeyPair is .Profile.Credential.KeyPair.
type KeyPair struct {
	ID     string
	Secret string
}

// Secret is an element of .Secrets.
type Secret struct {
	Data map[string][]byte
	Type string
}

// Example is the value params() builds in crates/kanister/src/template/tests/mod.rs.
func Example() TemplateParams {
	return TemplateParams{
		StatefulSet: &StatefulSetParams{Name: "my-db", Namespace: "ns", Pods: []string{"my-db-0", "my-db-1"}},
		Deployment:  nil,
		Profile: &Profile{
			Location: Location{
				Type:     "s3Compliant",
				Bucket:   "b",
				Endpoint: "http://minio:9000",
				Prefix:   "p/<x>&",
				Region:   "us-east-1",
			},
			Credential:    Credential{Type: "keyPair", KeyPair: &KeyPair{ID: "AK", Secret: "SK"}},
			SkipSSLVerify: false,
		},
		Time:    "2026-11-23T10:00:00.123456789Z",
		Options: map[string]string{"pitr": "2024-01-02T03:04:05Z"},
		Object:  map[string]interface{}{"metadata": map[string]interface{}{"name": "obj"}},
		Secrets: map[string]Secret{"pg": {Data: map[string][]byte{"password": []byte("s3cr3t")}, Type: "Opaque"}},
	}
}
