// Package messages loads the message catalogue: one text file per language
// (texts/ru.txt, en.txt, ky.txt, embedded in the binary), each overridable
// key by key by a file of the same name in an operator's directory
// (MESSAGES_DIR). The format is deliberately small, so translators can edit
// it: "key = text" per line, "#" comments, blank lines.
package messages

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/evpower/evpush/domain"
)

//go:embed texts/*.txt
var embedded embed.FS

// Load reads the embedded catalogue and, when dir is not empty, overrides
// it with dir's *.txt files (a file may hold only the keys it changes, or
// add a language). defaultLocale's language must end up with every key.
// Errors name the file and, for a malformed line, its number.
func Load(dir, defaultLocale string) (*domain.Catalog, error) {
	langs := map[string]map[string]string{}
	sub, err := fs.Sub(embedded, "texts")
	if err != nil {
		return nil, err
	}
	if err := readDir(sub, "texts", langs); err != nil {
		return nil, err
	}
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("messages directory %s: %w", dir, err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("messages directory %s: not a directory", dir)
		}
		if err := readDir(os.DirFS(dir), dir, langs); err != nil {
			return nil, err
		}
	}
	c, err := domain.NewCatalog(langs, defaultLocale)
	if err != nil {
		return nil, fmt.Errorf("message catalogue: %w", err)
	}
	return c, nil
}

var (
	defaultOnce sync.Once
	defaultCat  *domain.Catalog
)

// Default renders with the embedded catalogue (Russian as the fallback) and
// the default links, for tests and tools; the service loads its own.
func Default() domain.Messages {
	defaultOnce.Do(func() {
		var err error
		if defaultCat, err = Load("", domain.DefaultLocale); err != nil {
			panic(err) // the embedded files are tested
		}
	})
	return domain.Messages{Catalog: defaultCat, Links: domain.DefaultLinks}
}

// readDir merges every <language>.txt of fsys into langs; shown is how
// errors name the directory.
func readDir(fsys fs.FS, shown string, langs map[string]map[string]string) error {
	names, err := fs.Glob(fsys, "*.txt")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		file := filepath.Join(shown, name)
		lang, ok := domain.NormalizeLocale(strings.TrimSuffix(path.Base(name), ".txt"))
		if !ok || strings.Contains(lang, "-") {
			return fmt.Errorf("%s: the file name must be a language code such as ky.txt", file)
		}
		f, err := fsys.Open(name)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		texts, err := Parse(file, f)
		f.Close()
		if err != nil {
			return err
		}
		if langs[lang] == nil {
			langs[lang] = map[string]string{}
		}
		for k, v := range texts {
			langs[lang][k] = v
		}
	}
	return nil
}

// Parse reads one language file. A line is "key = text" (spaces around "="
// are trimmed), a "#" comment, or blank. Unknown and repeated keys, empty
// texts and invalid UTF-8 are errors naming the file and line: a typo must
// stop start-up rather than fall back unnoticed.
func Parse(name string, r io.Reader) (map[string]string, error) {
	texts := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // a byte-order mark from a Windows editor
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fail := func(msg string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(msg, args...))
		}
		key, text, ok := strings.Cut(line, "=")
		key, text = strings.TrimSpace(key), strings.TrimSpace(text)
		switch {
		case !ok || key == "":
			return nil, fail(`expected "key = text"`)
		case !slices.Contains(domain.MessageKeys, key):
			return nil, fail("unknown key %q", key)
		case text == "":
			return nil, fail("key %q has no text", key)
		case !utf8.ValidString(text):
			return nil, fail("text is not valid UTF-8")
		}
		if _, dup := texts[key]; dup {
			return nil, fail("key %q is defined twice", key)
		}
		texts[key] = text
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is longer than 64 KiB", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return texts, nil
}
