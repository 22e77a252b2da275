package config

import (
	"net/url"
	"regexp"
	"strings"
)

const mask = "xxxxx"

// kvPassword matches a password in a key=value connection string: a quoted
// value (unterminated runs to the end), or an unquoted one up to the next
// key= or the end, so a malformed value with spaces is masked whole.
var kvPassword = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*(?:'|$)|.*?)(\s+[A-Za-z_]+\s*=|\s*$)`)

// Redact returns dsn with every password it can recognise replaced by
// "xxxxx". It works on malformed input too, because that is what ends up in
// error messages, and it prefers masking too much to too little.
func Redact(dsn string) string {
	if !isURL(dsn) {
		var b strings.Builder
		rest := eachKVPassword(dsn, func(before, _ string) {
			b.WriteString(before)
			b.WriteString(mask)
		})
		b.WriteString(rest)
		return b.String()
	}
	scheme, rest, _ := strings.Cut(dsn, "://")
	// The last '@' ends the userinfo even if the password holds an unencoded
	// '@' or '/'; at worst the host is masked too.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if colon := strings.IndexByte(rest[:at], ':'); colon >= 0 {
			rest = rest[:colon+1] + mask + rest[at:]
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q+1] + redactQuery(rest[q+1:])
	}
	return scheme + "://" + rest
}

// eachKVPassword calls fn with the text before each password value
// (including "password=") and the value, and returns the text after the last
// one. The key that ends a value is scanned again, so that consecutive
// password keys are all found.
func eachKVPassword(dsn string, fn func(before, value string)) (rest string) {
	for {
		m := kvPassword.FindStringSubmatchIndex(dsn)
		if m == nil {
			return dsn
		}
		fn(dsn[:m[3]], dsn[m[4]:m[5]])
		dsn = dsn[m[5]:]
	}
}

func redactQuery(query string) string {
	pairs := strings.Split(query, "&")
	for i, pair := range pairs {
		key, _, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		if isPasswordKey(key) {
			pairs[i] = key + "=" + mask
		}
	}
	return strings.Join(pairs, "&")
}

// isPasswordKey also decodes the key, as pgx does: pass%77ord is password.
func isPasswordKey(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	key = strings.ToLower(strings.TrimSpace(key))
	return key == "password" || key == "sslpassword"
}

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// passwords returns the password values in dsn, raw and decoded, so that
// text derived from dsn (a parser's error message) can be scrubbed of them.
func passwords(dsn string) []string {
	var raw []string
	if isURL(dsn) {
		_, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				raw = append(raw, pw)
			}
		}
		if _, query, ok := strings.Cut(rest, "?"); ok {
			for pair := range strings.SplitSeq(query, "&") {
				if key, value, ok := strings.Cut(pair, "="); ok && isPasswordKey(key) {
					raw = append(raw, value)
				}
			}
		}
	} else {
		eachKVPassword(dsn, func(_, value string) {
			raw = append(raw, strings.Trim(value, "'"))
			// A malformed unquoted value with spaces reaches the parser's
			// error message word by word.
			raw = append(raw, strings.Fields(value)...)
		})
	}
	var out []string
	for _, pw := range raw {
		if pw == "" {
			continue
		}
		out = append(out, pw)
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
			out = append(out, dec)
		}
	}
	return out
}

// scrub removes every password of dsn from text and folds it onto one line.
func scrub(text, dsn string) string {
	for _, pw := range passwords(dsn) {
		text = strings.ReplaceAll(text, pw, mask)
	}
	return strings.Join(strings.Fields(text), " ")
}
