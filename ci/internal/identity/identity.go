// Package identity decides whose keyless signature Gantry trusts: a GitHub
// Actions workflow of one repository, run by a push to the default branch
// or a release tag, as Fulcio's certificate vouches for it. Signing (of its
// own token), promotion, the run record and `verify` all ask one Policy.
//
// Only what the certificate says counts. A pull request's code can get a
// certificate too (…/ci.yml@refs/pull/7/merge, trigger pull_request) and
// sign a provenance that claims main's commit; the certificate's ref,
// trigger and commit give it away, and the provenance's claims must match
// them.
package identity

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sigstore/fulcio/pkg/certificate"

	"github.com/gantry-ci/gantry/ci/internal/tags"
)

// GitHubIssuer is the OIDC issuer of GitHub Actions' tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// Push is the trigger of a run for a pushed branch or tag.
const Push = "push"

// server is where Fulcio's GitHub templates root every URI.
const server = "https://github.com/"

// Policy is who may have signed. Every field but RepositoryID, Workflow,
// Name and SHA is required (Check says so); zero values of those accept
// anything.
type Policy struct {
	Issuer string `json:"issuer"` // the OIDC issuer, exact
	// Repository is OWNER/REPO (GitHub's names are case-insensitive).
	Repository string `json:"repository"`
	// RepositoryID is GitHub's numeric ID of it, which survives a rename
	// and can't be taken by whoever registers the name next; checked where
	// the certificate carries one (extension 1.3.6.1.4.1.57264.1.15).
	RepositoryID string `json:"repositoryID,omitempty"`
	// Workflow is the workflow file, e.g. .github/workflows/ci.yml.
	Workflow string `json:"workflow,omitempty"`
	// Name is the workflow's name (cosign's --certificate-github-workflow-name).
	Name string `json:"name,omitempty"`
	// Trigger is the event that started the run, e.g. push (…1.20).
	Trigger string `json:"trigger"`
	// Ref is the exact git ref the run was for (…1.14); "" accepts the
	// protected refs: refs/heads/DefaultBranch and refs/tags/vSEMVER.
	Ref           string `json:"ref,omitempty"`
	DefaultBranch string `json:"defaultBranch,omitempty"`
	// SHA is the commit the run was for (…1.13).
	SHA string `json:"sha,omitempty"`
}

// Release is the policy of a repository's publishing runs: any workflow
// file of repo (Workflow narrows it), run by a push to defaultBranch or a
// release tag, under GitHub's issuer.
func Release(repo, defaultBranch string) Policy {
	return Policy{Issuer: GitHubIssuer, Repository: repo, Trigger: Push, DefaultBranch: defaultBranch}
}

// Cert is what a certificate (or, before signing, an OIDC token) vouches
// for.
type Cert struct {
	Subject      string // the SAN: https://github.com/OWNER/REPO/WORKFLOW@REF
	Issuer       string
	Repository   string // https://github.com/OWNER/REPO
	RepositoryID string
	Name         string
	Trigger      string
	Ref          string
	SHA          string
}

// FromCertificate reads what a Fulcio certificate vouches for, from its
// extensions (the current ones, else the deprecated GitHub ones).
func FromCertificate(c *x509.Certificate) (Cert, error) {
	ext, err := certificate.ParseExtensions(c.Extensions)
	if err != nil {
		return Cert{}, fmt.Errorf("reading the certificate's extensions: %w", err)
	}
	var subject string
	if len(c.URIs) == 1 {
		subject = c.URIs[0].String()
	}
	repo := ext.SourceRepositoryURI
	if repo == "" && ext.GithubWorkflowRepository != "" {
		repo = server + ext.GithubWorkflowRepository
	}
	return Cert{
		Subject:      subject,
		Issuer:       ext.Issuer,
		Repository:   repo,
		RepositoryID: ext.SourceRepositoryIdentifier,
		Name:         ext.GithubWorkflowName,
		Trigger:      cmp.Or(ext.BuildTrigger, ext.GithubWorkflowTrigger),
		Ref:          cmp.Or(ext.SourceRepositoryRef, ext.GithubWorkflowRef),
		SHA:          cmp.Or(ext.SourceRepositoryDigest, ext.GithubWorkflowSHA),
	}, nil
}

// Validate checks that the policy pins what it must.
func (p Policy) Validate() error {
	switch {
	case p.Issuer == "":
		return errors.New("a keyless policy needs the OIDC issuer")
	case strings.Count(p.Repository, "/") != 1:
		return fmt.Errorf("a keyless policy needs the repository as OWNER/REPO, not %q", p.Repository)
	case p.Trigger == "":
		return errors.New("a keyless policy needs the trigger (push)")
	case p.Ref == "" && p.DefaultBranch == "":
		return errors.New("a keyless policy needs a ref, or the default branch")
	case p.Workflow != "" && (strings.Contains(p.Workflow, "@") || strings.HasPrefix(p.Workflow, "/")):
		return fmt.Errorf("a keyless policy's workflow is a path in the repository, e.g. .github/workflows/ci.yml, not %q", p.Workflow)
	}
	return nil
}

// SubjectRegexp is the pattern of certificate subjects the policy can
// accept at all: the repository's workflow files (or Workflow) at any ref.
// cosign matches it; Check decides the rest and says what was wrong.
func (p Policy) SubjectRegexp() string {
	prefix := "(?i:" + regexp.QuoteMeta(server+p.Repository+"/") + ")"
	if p.Workflow != "" {
		return "^" + prefix + regexp.QuoteMeta(p.Workflow+"@") + "refs/.+$"
	}
	return "^" + prefix + regexp.QuoteMeta(".github/workflows/") + "[^@]+@refs/.+$"
}

// Describe says in words who the policy accepts.
func (p Policy) Describe() string {
	what := "a workflow"
	if p.Workflow != "" {
		what = p.Workflow
	}
	s := fmt.Sprintf("%s of %s, run by %s for %s", what, p.Repository, p.Trigger, p.refs())
	if p.SHA != "" {
		s += " at " + p.SHA
	}
	return s
}

func (p Policy) refs() string {
	if p.Ref != "" {
		return p.Ref
	}
	return "refs/heads/" + p.DefaultBranch + " or a release tag"
}

// Check says whether c is a signer the policy accepts, and if not, what
// the certificate says instead: one line naming the ref and trigger.
func (p Policy) Check(c Cert) error {
	if err := p.Validate(); err != nil {
		return err
	}
	signer := fmt.Sprintf("signed by %s (ref %s, trigger %s)", orNone(c.Subject), orNone(c.Ref), orNone(c.Trigger))
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s; want %s", signer, fmt.Sprintf(format, args...), p.Describe())
	}
	switch {
	case c.Issuer != p.Issuer:
		return bad("issuer %s", orNone(c.Issuer))
	case !strings.EqualFold(c.Repository, server+p.Repository):
		return bad("repository %s", orNone(c.Repository))
	case p.RepositoryID != "" && c.RepositoryID != "" && c.RepositoryID != p.RepositoryID:
		return bad("repository ID %s, not %s (the name was taken over?)", c.RepositoryID, p.RepositoryID)
	case !regexp.MustCompile(p.SubjectRegexp()).MatchString(c.Subject):
		return bad("another workflow")
	case !strings.HasSuffix(c.Subject, "@"+c.Ref):
		return bad("the subject's ref is not the certified ref %s", orNone(c.Ref))
	case c.Trigger != p.Trigger:
		return bad("a run triggered by %s", orNone(c.Trigger))
	case p.Name != "" && c.Name != p.Name:
		return bad("workflow name %s", orNone(c.Name))
	case !p.refOK(c.Ref):
		return bad("a run for %s", orNone(c.Ref))
	case p.SHA != "" && c.SHA != p.SHA:
		return bad("commit %s", orNone(c.SHA))
	}
	return nil
}

func (p Policy) refOK(ref string) bool {
	if p.Ref != "" {
		return ref == p.Ref
	}
	if ref == "refs/heads/"+p.DefaultBranch {
		return true
	}
	tag, ok := strings.CutPrefix(ref, "refs/tags/")
	return ok && tags.IsRelease(tag)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
