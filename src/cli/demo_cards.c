/*
 * demo_cards.c - the card phase of `tkms demo` (demo.h, docs/demo.md
 * "Card phase"). The card and PSAM emulators (src/sim) and the card
 * transactions of the command line are not there yet: until they are,
 * the phase says so and the demo ends "incomplete" (exit 3), never
 * "passed".
 */
#include "demo.h"

int
demo_cards(struct demo *d)
{
	demo_say(d, "cards: not built yet (%u cards asked for)", d->cards);
	return DEMO_NOT_BUILT;
}
