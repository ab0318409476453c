package cli

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// JSONFlag adds --json to c: print the result as JSON, for scripts.
func JSONFlag(c *cobra.Command) *bool {
	return c.Flags().Bool("json", false, "print the result as JSON")
}

// WriteJSON writes v to w as indented JSON and a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Style colours text for a terminal. The zero Style colours nothing.
type Style struct{ on bool }

// Style colours when stdout is a terminal, NO_COLOR is unset or empty (no-color.org)
// and TERM is not "dumb".
func (io IO) Style() Style {
	return Style{on: io.Terminal(io.Stdout) && io.Env("NO_COLOR") == "" && io.Env("TERM") != "dumb"}
}

// SGR colours, each two digits so every painted string grows by the same width and a
// column painted throughout stays aligned in a tabwriter table.
const (
	sgrBold    = "01"
	sgrRed     = "31"
	sgrGreen   = "32"
	sgrYellow  = "33"
	sgrDefault = "39"
)

func (s Style) paint(sgr, text string) string {
	if !s.on {
		return text
	}
	return "\x1b[" + sgr + "m" + text + "\x1b[0m"
}

// Good, Bad, Warn, Bold and Plain paint text; Plain paints it in the default colour, so a
// table column painted in places keeps its width everywhere.
func (s Style) Good(text string) string  { return s.paint(sgrGreen, text) }
func (s Style) Bad(text string) string   { return s.paint(sgrRed, text) }
func (s Style) Warn(text string) string  { return s.paint(sgrYellow, text) }
func (s Style) Bold(text string) string  { return s.paint(sgrBold, text) }
func (s Style) Plain(text string) string { return s.paint(sgrDefault, text) }
