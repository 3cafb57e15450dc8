package messages_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

// TestEmbeddedLanguagesAreComplete: every key in every shipped language,
// so no device ever falls back to another language for lack of a text.
func TestEmbeddedLanguagesAreComplete(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"ru", "en", "ky"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join("texts", lang+".txt"))
			require.NoError(t, err)
			defer f.Close()
			texts, err := messages.Parse(lang+".txt", f)
			require.NoError(t, err)
			for _, k := range domain.MessageKeys {
				require.NotEmpty(t, texts[k], "%s lacks %s", lang, k)
			}
			// Every language can be the default one.
			_, err = messages.Load("", lang)
			require.NoError(t, err)
		})
	}
	require.Equal(t, []string{"en", "ky", "ru"}, messages.Default().Catalog.Languages())
}

// TestKyrgyzTexts: the Kyrgyz catalogue renders, with som and a decimal comma.
func TestKyrgyzTexts(t *testing.T) {
	t.Parallel()
	ev := domain.ChargingEvent{Kind: domain.EventChargingCompleted, SessionID: "s-1", StationID: "ST-1",
		DriverID: "d", EnergyKWh: 12.5, Amount: 16663}
	n := messages.Default().Event(ev, domain.UserTypeClient, "ky")
	require.Equal(t, "Кубаттоо аяктады", n.Title)
	require.Equal(t, "12,5 кВт·саат алынды, төлөнө турган сумма: 166,63 сом.", n.Body)
	require.Equal(t, "EvPower: сыноо билдирмеси", messages.Default().Test("ky-KG").Title)
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
}

// TestOverrideDirectory: an operator's file changes only the keys it names;
// a new language needs only what it has (the rest falls back).
func TestOverrideDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "en.txt", "# ours\n\ncharging_started.title = Your car is charging\n")
	write(t, dir, "Uz.txt", "test.title = EvPower: sinov\n") // names are normalised
	c, err := messages.Load(dir, "en")
	require.NoError(t, err)
	require.Equal(t, "Your car is charging", c.Text("en", domain.KeyChargingStartedTitle))
	require.Equal(t, "Charging completed", c.Text("en", domain.KeyChargingCompleteTitle), "untouched keys stay")
	require.Equal(t, "Зарядка началась", c.Text("ru", domain.KeyChargingStartedTitle), "other languages stay")
	require.Equal(t, "EvPower: sinov", c.Text("uz", domain.KeyTestTitle))
	require.Equal(t, "Push notifications work on this device.", c.Text("uz", domain.KeyTestBody), "missing key: DEFAULT_LOCALE's")
	require.True(t, c.Has("uz"))

	_, err = messages.Load(dir, "uz")
	require.ErrorContains(t, err, `default language "uz": key "test.body" is missing`)
}

// TestMalformedFiles: start-up stops with the file and line named.
func TestMalformedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, text, want string
	}{
		{"no equals sign", "ru.txt", "# c\ntest.title Заголовок\n", "ru.txt:2: expected \"key = text\""},
		{"unknown key", "en.txt", "\n\ncharging_startd.title = x\n", `en.txt:3: unknown key "charging_startd.title"`},
		{"empty text", "ky.txt", "test.title =   \n", `ky.txt:1: key "test.title" has no text`},
		{"twice", "en.txt", "test.title = a\ntest.title = b\n", `en.txt:2: key "test.title" is defined twice`},
		{"bad UTF-8", "en.txt", "test.title = \xff\n", "en.txt:1: text is not valid UTF-8"},
		{"not a language", "messages.txt", "test.title = a\n", "messages.txt: the file name must be a language code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, dir, tt.file, tt.text)
			_, err := messages.Load(dir, "ru")
			require.Error(t, err)
			require.Contains(t, err.Error(), filepath.Join(dir, tt.want))
		})
	}
	_, err := messages.Load(filepath.Join(t.TempDir(), "missing"), "ru")
	require.ErrorContains(t, err, "missing")
}

// TestParseAllowsBOMAndEqualsInText: a Windows editor's byte-order mark is
// ignored, and only the first "=" separates key and text.
func TestParseAllowsBOMAndEqualsInText(t *testing.T) {
	t.Parallel()
	texts, err := messages.Parse("x.txt", strings.NewReader("\ufefftest.title = 1 + 1 = 2\n"))
	require.NoError(t, err)
	require.Equal(t, "1 + 1 = 2", texts[domain.KeyTestTitle])
}
