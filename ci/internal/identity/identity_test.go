package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/fulcio/pkg/certificate"
)

const (
	repo = "acme/app"
	sha  = "0123456789abcdef0123456789abcdef01234567"
)

// mainPush is what Fulcio certifies for a push to main of acme/app's
// ci.yml.
func mainPush() Cert {
	return Cert{
		Subject:      "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main",
		Issuer:       GitHubIssuer,
		Repository:   "https://github.com/acme/app",
		RepositoryID: "1000001",
		Name:         "ci",
		Trigger:      "push",
		Ref:          "refs/heads/main",
		SHA:          sha,
	}
}

func TestCheck(t *testing.T) {
	release := Release(repo, "main")
	pinned := release
	pinned.Workflow, pinned.RepositoryID, pinned.SHA = ".github/workflows/ci.yml", "1000001", sha
	tagPush := func(tag string) Cert {
		c := mainPush()
		c.Subject = "https://github.com/acme/app/.github/workflows/ci.yml@refs/tags/" + tag
		c.Ref = "refs/tags/" + tag
		return c
	}
	with := func(f func(*Cert)) Cert {
		c := mainPush()
		f(&c)
		return c
	}
	tests := []struct {
		name string
		p    Policy
		c    Cert
		want string // part of the error; "" accepts
	}{
		{name: "main push", p: release, c: mainPush()},
		{name: "main push, everything pinned", p: pinned, c: mainPush()},
		{name: "release tag", p: pinned, c: tagPush("v1.2.3")},
		{name: "pre-release tag", p: release, c: tagPush("v1.3.0-rc.1")},
		{name: "repository name in another case", p: Release("ACME/App", "main"), c: mainPush()},
		{name: "another workflow file, any allowed", p: release,
			c: with(func(c *Cert) { c.Subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" })},

		// Issue 21: a same-repository pull request gets a certificate for
		// its merge ref, with trigger pull_request.
		{name: "pull request", p: pinned, c: with(func(c *Cert) {
			c.Subject = "https://github.com/acme/app/.github/workflows/ci.yml@refs/pull/7/merge"
			c.Ref, c.Trigger = "refs/pull/7/merge", "pull_request"
		}), want: "(ref refs/pull/7/merge, trigger pull_request): a run triggered by pull_request"},
		// … or pushes a branch with an edited workflow.
		{name: "feature branch push", p: pinned, c: with(func(c *Cert) {
			c.Subject = "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/feature"
			c.Ref = "refs/heads/feature"
		}), want: "a run for refs/heads/feature; want .github/workflows/ci.yml of acme/app, run by push for refs/heads/main or a release tag"},
		{name: "pull_request_target on main", p: pinned, c: with(func(c *Cert) { c.Trigger = "pull_request_target" }),
			want: "a run triggered by pull_request_target"},
		{name: "workflow_dispatch", p: release, c: with(func(c *Cert) { c.Trigger = "workflow_dispatch" }), want: "a run triggered by workflow_dispatch"},
		{name: "a tag that is no release", p: release, c: tagPush("nightly"), want: "a run for refs/tags/nightly"},
		{name: "another workflow file, one pinned", p: pinned,
			c:    with(func(c *Cert) { c.Subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" }),
			want: "another workflow"},
		{name: "another repository", p: release, c: with(func(c *Cert) {
			c.Subject = "https://github.com/evil/app/.github/workflows/ci.yml@refs/heads/main"
			c.Repository = "https://github.com/evil/app"
		}), want: "repository https://github.com/evil/app"},
		{name: "subject of another repository", p: release,
			c:    with(func(c *Cert) { c.Subject = "https://github.com/evil/app/.github/workflows/ci.yml@refs/heads/main" }),
			want: "another workflow"},
		{name: "renamed and re-registered repository", p: pinned, c: with(func(c *Cert) { c.RepositoryID = "666" }),
			want: "repository ID 666, not 1000001"},
		{name: "no repository ID in the certificate", p: pinned, c: with(func(c *Cert) { c.RepositoryID = "" })},
		{name: "another issuer", p: release, c: with(func(c *Cert) { c.Issuer = "https://issuer.evil" }), want: "issuer https://issuer.evil"},
		{name: "another commit", p: pinned, c: with(func(c *Cert) { c.SHA = strings.Repeat("f", 40) }), want: "commit ffff"},
		{name: "subject and ref disagree", p: release, c: with(func(c *Cert) { c.Ref = "refs/tags/v1.0.0" }),
			want: "the subject's ref is not the certified ref refs/tags/v1.0.0"},
		{name: "no trigger", p: release, c: with(func(c *Cert) { c.Trigger = "" }), want: "trigger (none)"},
		{name: "exact ref", p: Policy{Issuer: GitHubIssuer, Repository: repo, Trigger: Push, Ref: "refs/tags/v1.2.3"}, c: mainPush(),
			want: "a run for refs/heads/main"},
		{name: "workflow name", p: Policy{Issuer: GitHubIssuer, Repository: repo, Trigger: Push, DefaultBranch: "main", Name: "release"},
			c: mainPush(), want: "workflow name ci"},
		{name: "a policy without a trigger", p: Policy{Issuer: GitHubIssuer, Repository: repo, DefaultBranch: "main"}, c: mainPush(),
			want: "needs the trigger"},
		{name: "a policy without refs", p: Policy{Issuer: GitHubIssuer, Repository: repo, Trigger: Push}, c: mainPush(),
			want: "needs a ref, or the default branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check(tt.c)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// A certificate as Fulcio issues it for a pull request's run: the
// extensions are read, not the subject alone.
func TestFromCertificate(t *testing.T) {
	ext, err := certificate.Extensions{
		Issuer:                     GitHubIssuer,
		GithubWorkflowTrigger:      "pull_request",
		GithubWorkflowRepository:   "acme/app",
		GithubWorkflowName:         "ci",
		SourceRepositoryURI:        "https://github.com/acme/app",
		SourceRepositoryDigest:     sha,
		SourceRepositoryRef:        "refs/pull/7/merge",
		SourceRepositoryIdentifier: "1000001",
		BuildTrigger:               "pull_request",
	}.Render()
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := url.Parse("https://github.com/acme/app/.github/workflows/ci.yml@refs/pull/7/merge")
	c := selfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1e10, 0),
		URIs: []*url.URL{subject}, ExtraExtensions: ext})
	got, err := FromCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	want := Cert{Subject: subject.String(), Issuer: GitHubIssuer, Repository: "https://github.com/acme/app", RepositoryID: "1000001",
		Name: "ci", Trigger: "pull_request", Ref: "refs/pull/7/merge", SHA: sha}
	if got != want {
		t.Errorf("FromCertificate =\n%+v, want\n%+v", got, want)
	}

	// Only the deprecated GitHub extensions (an older Fulcio).
	old, err := certificate.Extensions{Issuer: GitHubIssuer, GithubWorkflowTrigger: "push", GithubWorkflowSHA: sha,
		GithubWorkflowRepository: "acme/app", GithubWorkflowRef: "refs/heads/main"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err = FromCertificate(selfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Unix(0, 0),
		NotAfter: time.Unix(1e10, 0), ExtraExtensions: old}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Repository != "https://github.com/acme/app" || got.Trigger != "push" || got.Ref != "refs/heads/main" || got.SHA != sha {
		t.Errorf("from the deprecated extensions: %+v", got)
	}
}

func selfSigned(t *testing.T, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSubjectRegexp(t *testing.T) {
	for _, tt := range []struct {
		p       Policy
		subject string
		match   bool
	}{
		{Release(repo, "main"), "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main", true},
		{Release(repo, "main"), "https://github.com/Acme/App/.github/workflows/ci.yml@refs/pull/7/merge", true},
		{Release(repo, "main"), "https://github.com/acme/app-fork/.github/workflows/ci.yml@refs/heads/main", false},
		{Release(repo, "main"), "https://github.com/acme/app/.github/workflows/x@y.yml@refs/heads/main", false},
		{Policy{Repository: repo, Workflow: ".github/workflows/ci.yml"}, "https://github.com/acme/app/.github/workflows/ci.yml@refs/tags/v1.0.0", true},
		{Policy{Repository: repo, Workflow: ".github/workflows/ci.yml"}, "https://github.com/acme/app/.github/workflows/ciXyml@refs/tags/v1.0.0", false},
	} {
		re := tt.p.SubjectRegexp()
		if got := regexpMatch(t, re, tt.subject); got != tt.match {
			t.Errorf("%s matches %s: %v, want %v", re, tt.subject, got, tt.match)
		}
	}
}

func regexpMatch(t *testing.T, re, s string) bool {
	t.Helper()
	r, err := regexp.Compile(re)
	if err != nil {
		t.Fatal(err)
	}
	return r.MatchString(s)
}
