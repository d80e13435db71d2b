package triage

import "strings"

// Keyword is a carrier keyword a reply consists of.
type Keyword string

const (
	NoKeyword Keyword = ""
	OptOut    Keyword = "opt_out" // STOP and friends: send nothing more
	OptIn     Keyword = "opt_in"  // START, UNSTOP, YES: texts may resume
	Help      Keyword = "help"    // HELP, INFO: who is texting and how to reach them
)

// Twilio's default keywords. A keyword counts only as the whole reply, in
// any case, with spaces or a full stop around it: "stop" opts out, "stop
// the pain please" does not.
var keywords = map[string]Keyword{
	"STOP": OptOut, "STOPALL": OptOut, "UNSUBSCRIBE": OptOut, "CANCEL": OptOut, "END": OptOut,
	"QUIT": OptOut, "REVOKE": OptOut, "OPTOUT": OptOut,
	"START": OptIn, "UNSTOP": OptIn, "YES": OptIn,
	"HELP": Help, "INFO": Help,
}

// KeywordOf reads a reply's keyword. optOutType is the OptOutType parameter
// Twilio sends when Advanced Opt-Out is on (STOP, START or HELP); it wins,
// because the clinic may have configured its own keywords there.
func KeywordOf(body, optOutType string) Keyword {
	switch strings.ToUpper(strings.TrimSpace(optOutType)) {
	case "STOP":
		return OptOut
	case "START":
		return OptIn
	case "HELP":
		return Help
	}
	word := strings.ToUpper(strings.Trim(body, " \t\r\n.!"))
	return keywords[word]
}
