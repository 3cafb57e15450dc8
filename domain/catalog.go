package domain

import (
	"fmt"
	"slices"
	"strings"
)

// The keys of the message catalogue: every text a device may show, plus how
// a language writes numbers. Each language file defines them (README,
// "Message catalogue"); a key missing in one language falls back to the
// default language's text.
const (
	KeyTestTitle             = "test.title"
	KeyTestBody              = "test.body"
	KeyChargingStartedTitle  = "charging_started.title"
	KeyChargingStartedBody   = "charging_started.body"
	KeyChargingCompleteTitle = "charging_completed.title"
	KeyChargingCompleteBody  = "charging_completed.body"
	KeyNewSessionTitle       = "new_session.title"
	KeyNewSessionBody        = "new_session.body"
	KeySessionCompleteTitle  = "session_completed.title"
	KeySessionCompleteBody   = "session_completed.body"
	// KeyDecimalSeparator is "," or "." between a number's whole and
	// fractional parts ("12,5 кВт·ч", "12.5 kWh").
	KeyDecimalSeparator = "number.decimal_separator"
)

// MessageKeys lists every key a catalogue language may define.
var MessageKeys = []string{
	KeyTestTitle, KeyTestBody,
	KeyChargingStartedTitle, KeyChargingStartedBody,
	KeyChargingCompleteTitle, KeyChargingCompleteBody,
	KeyNewSessionTitle, KeyNewSessionBody,
	KeySessionCompleteTitle, KeySessionCompleteBody,
	KeyDecimalSeparator,
}

// Catalog holds the texts of each language. It is built once at start-up
// and only read afterwards, so it is safe for concurrent use.
type Catalog struct {
	langs        map[string]map[string]string // language → key → text
	fallback     string                       // DEFAULT_LOCALE as given ("ru-kg")
	fallbackLang string                       // its language ("ru")
}

// NewCatalog checks and wraps langs (language → key → text). The fallback
// language (DEFAULT_LOCALE) must define every key, since it stands in for
// whatever another language lacks; no language may define an unknown key (a
// typo would otherwise silently fall back).
func NewCatalog(langs map[string]map[string]string, fallback string) (*Catalog, error) {
	fallback, _ = NormalizeLocale(fallback)
	lang := baseLanguage(fallback)
	def, ok := langs[lang]
	if !ok {
		return nil, fmt.Errorf("no messages in the default language %q", lang)
	}
	for _, k := range MessageKeys {
		if strings.TrimSpace(def[k]) == "" {
			return nil, fmt.Errorf("default language %q: key %q is missing", lang, k)
		}
	}
	for lang, texts := range langs {
		for k := range texts {
			if !slices.Contains(MessageKeys, k) {
				return nil, fmt.Errorf("language %q: unknown key %q", lang, k)
			}
		}
	}
	return &Catalog{langs: langs, fallback: fallback, fallbackLang: lang}, nil
}

// Text returns key's text in locale's language, else in the fallback one.
func (c *Catalog) Text(locale, key string) string {
	if t, ok := c.langs[baseLanguage(locale)][key]; ok {
		return t
	}
	return c.langs[c.fallbackLang][key]
}

// Has reports whether the catalogue has texts in locale's language.
func (c *Catalog) Has(locale string) bool {
	_, ok := c.langs[baseLanguage(locale)]
	return ok
}

// Languages lists the catalogue's languages, sorted.
func (c *Catalog) Languages() []string {
	out := make([]string, 0, len(c.langs))
	for l := range c.langs {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Fallback is DEFAULT_LOCALE: the locale of subscriptions that named none,
// whose language stands in for missing texts.
func (c *Catalog) Fallback() string { return c.fallback }

// WithFallback returns the same texts with another fallback language, which
// must define every key.
func (c *Catalog) WithFallback(locale string) (*Catalog, error) {
	return NewCatalog(c.langs, locale)
}

func baseLanguage(locale string) string {
	l, _ := NormalizeLocale(locale)
	base, _, _ := strings.Cut(l, "-")
	return base
}
