package domain

import (
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// UserMessage is anything the backend wants to tell one user ("payment
// received", "station offline", …), in texts it supplies per language. It
// reaches every subscription of the user in one role.
type UserMessage struct {
	UserID   string
	UserType UserType
	// Title and Body map a language tag ("ru", "en", "ky", "ru-kg") to text.
	Title, Body map[string]string
	URL         string // a path on the PWA's origin; "" opens the app's home
	Tag         string // replaces an earlier notification with the same tag
	TTL         time.Duration
	Urgency     Urgency
	// DedupeKey, when set, makes a second message with the same key send
	// nothing to a device that already got the first.
	DedupeKey string
	// Category, when set, is what the user may switch off to not hear this
	// ("marketing"); a category the user never switched is on.
	Category   string
	OccurredAt time.Time
}

// Limits of a UserMessage. The byte budget keeps the encrypted payload within
// Firefox for Android's 3,000-byte record (2,897 bytes of JSON) with room for
// the fixed fields: title, body, url and tag together, as JSON-escaped UTF-8.
// 200 + 1,000 Cyrillic characters (2 bytes each) fit with the longest URL and tag.
const (
	DefaultUserMessageTTL = 24 * time.Hour
	MaxUserMessageTTL     = 28 * 24 * time.Hour // 2,419,200 s, what push services keep at most
	MaxTitleChars         = 200
	MaxBodyChars          = 1000
	MaxTextBytes          = 2750 // title + body + url + tag, as JSON-escaped UTF-8
	MaxTagLength          = 64
	MaxDedupeKeyLength    = 200
	MaxUserMessageURL     = 256
	maxUserIDLength       = 255
)

// TypeUserNotification is data.type of a UserMessage's notification.
const TypeUserNotification NotificationType = "user_notification"

// Validate checks every field and reports all problems at once, each under
// the job's argument name.
func (m UserMessage) Validate() error {
	v := &ValidationError{}
	switch {
	case m.UserID == "":
		v.Add("user_id", "is required")
	case len(m.UserID) > maxUserIDLength || !utf8.ValidString(m.UserID):
		v.Add("user_id", "must be valid UTF-8 of at most "+strconv.Itoa(maxUserIDLength)+" bytes")
	}
	if _, err := ParseUserType(string(m.UserType)); err != nil {
		v.Add(FieldUserType, err.Error())
	}
	bytes := 0
	for _, f := range []struct {
		name  string
		texts map[string]string
		max   int
	}{{"title", m.Title, MaxTitleChars}, {"body", m.Body, MaxBodyChars}} {
		if len(f.texts) == 0 {
			v.Add(f.name, `needs a text in at least one language, e.g. {"ru": "…"}`)
			continue
		}
		longest := 0
		for _, lang := range sortedKeys(f.texts) {
			text := f.texts[lang]
			field := f.name + "." + lang
			if l, ok := NormalizeLocale(lang); !ok || l != lang {
				v.Add(field, `must be keyed by a lower-case language tag such as "ru" or "ru-kg"`)
			}
			switch n := utf8.RuneCountInString(text); {
			case !utf8.ValidString(text):
				v.Add(field, "is not valid UTF-8")
			case isBlank(text):
				v.Add(field, "is empty")
			case n > f.max:
				v.Add(field, fmt.Sprintf("is %d characters long; at most %d", n, f.max))
			}
			longest = max(longest, jsonLen(text))
		}
		bytes += longest
	}
	if bytes += jsonLen(m.URL) + jsonLen(m.Tag); bytes > MaxTextBytes {
		v.Add("body", fmt.Sprintf("title, body, url and tag take %d bytes as UTF-8; at most %d fit a push message", bytes, MaxTextBytes))
	}
	if m.URL != "" {
		if len(m.URL) > MaxUserMessageURL {
			v.Add("url", "is longer than "+strconv.Itoa(MaxUserMessageURL)+" characters")
		} else if err := ValidateAppPath(m.URL); err != nil {
			v.Add("url", err.Error())
		}
	}
	if len(m.Tag) > MaxTagLength || !printable(m.Tag) {
		v.Add("tag", "must be at most "+strconv.Itoa(MaxTagLength)+" printable characters")
	}
	if len(m.DedupeKey) > MaxDedupeKeyLength || !printable(m.DedupeKey) {
		v.Add("dedupe_key", "must be at most "+strconv.Itoa(MaxDedupeKeyLength)+" printable characters")
	}
	if m.Category != "" && !ValidCategory(m.Category) {
		v.Add("category", categoryRule)
	}
	if m.TTL <= 0 || m.TTL > MaxUserMessageTTL {
		v.Add("ttl_seconds", fmt.Sprintf("must be between 1 and %d", int(MaxUserMessageTTL.Seconds())))
	}
	switch m.Urgency {
	case UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
	default:
		v.Add("urgency", `must be "very-low", "low", "normal" or "high"`)
	}
	return v.Err()
}

// Recipient is whom the message is for, silenced by its category when it
// has one.
func (m UserMessage) Recipient() Recipient {
	r := Recipient{UserID: m.UserID, UserType: m.UserType}
	if m.Category != "" {
		r.Pref = Pref{Class: PrefCategory, Name: m.Category}
	}
	return r
}

// Notification renders m for a device whose language is locale, falling
// back to fallback (DEFAULT_LOCALE), then to the first language given
// (sorted, so every device of one language gets the same text).
func (m UserMessage) Notification(locale, fallback string) Notification {
	n := Notification{
		Title:     pickText(m.Title, locale, fallback),
		Body:      pickText(m.Body, locale, fallback),
		Tag:       m.Tag,
		Renotify:  m.Tag != "", // a replacement is news: alert again
		Timestamp: m.OccurredAt,
		Type:      string(TypeUserNotification),
		URL:       m.URL,
		TTL:       m.TTL,
		Urgency:   m.Urgency,
	}
	if n.URL == "" {
		n.URL = "/"
	}
	if m.Tag != "" {
		// Like the tag on the device, the topic replaces a message an
		// offline device has not fetched yet.
		n.Topic = SessionTopic("tag:" + m.Tag)
	}
	return n
}

// pickText chooses the text for locale: the exact tag, its base language,
// the fallback's, then the first given.
func pickText(texts map[string]string, locale, fallback string) string {
	l, _ := NormalizeLocale(locale)
	for _, k := range []string{l, baseLanguage(l), baseLanguage(fallback)} {
		if t, ok := texts[k]; ok && k != "" {
			return t
		}
	}
	if keys := sortedKeys(texts); len(keys) > 0 {
		return texts[keys[0]]
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isBlank(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' && r != '\u00a0' {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// jsonLen is the length of s as a JSON string's content, as Go's encoder
// writes it: quotes, backslashes and \n \r \t take two bytes, other control
// characters and U+2028/U+2029 six (\uXXXX).
func jsonLen(s string) int {
	n := len(s)
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
			n++
		case r < 0x20:
			n += 5
		case r == '\u2028' || r == '\u2029':
			n += 3 // three bytes of UTF-8 become six
		}
	}
	return n
}
