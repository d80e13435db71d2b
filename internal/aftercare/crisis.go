package aftercare

import "strings"

// CrisisLine is a free, round-the-clock line for someone who may harm
// themselves, as given to a client after safe-messaging guidance.
type CrisisLine struct {
	Number string // as dialled in the country
	Name   string // what the service is called, GSM-7 only
}

// crisisLines by the country code of the client's number. Each is the
// national, free, 24-hour line its government or the service itself names
// (checked 2026-12-01):
//   - +1 US and Canada: 988 Suicide & Crisis Lifeline (988lifeline.org;
//     Canada's 988 since 2023-11-30, 988.ca)
//   - +44 UK, +353 Ireland: Samaritans, 116 123 (samaritans.org)
//   - +34 Spain: Linea 024, Ministerio de Sanidad (sanidad.gob.es, since 2022)
//   - +52 Mexico: Linea de la Vida, 800 911 2000 (gob.mx/salud/conadic)
//   - +61 Australia: Lifeline, 13 11 14 (lifeline.org.au)
//   - +64 New Zealand: Need to talk? 1737 (1737.org.nz)
//   - +33 France: 3114, numero national de prevention du suicide (3114.fr)
//   - +49 Germany: TelefonSeelsorge, 0800 111 0 111 (telefonseelsorge.de)
//
// A country not listed gets the emergency number alone; add a line here
// only from such a source.
var crisisLines = []struct {
	prefix string
	line   CrisisLine
}{
	{"+353", CrisisLine{"116 123", "Samaritans"}},
	{"+44", CrisisLine{"116 123", "Samaritans"}},
	{"+1", CrisisLine{"988", "988 Lifeline"}},
	{"+34", CrisisLine{"024", "Linea 024"}},
	{"+52", CrisisLine{"800 911 2000", "Linea de la Vida"}},
	{"+61", CrisisLine{"13 11 14", "Lifeline"}},
	{"+64", CrisisLine{"1737", "Need to talk?"}},
	{"+33", CrisisLine{"3114", "3114"}},
	{"+49", CrisisLine{"0800 111 0 111", "TelefonSeelsorge"}},
}

// CrisisLineFor returns the crisis line of the client's country, by their
// number, or false when none is known.
func CrisisLineFor(clientPhone string) (CrisisLine, bool) {
	for _, c := range crisisLines {
		if strings.HasPrefix(clientPhone, c.prefix) {
			return c.line, true
		}
	}
	return CrisisLine{}, false
}
