/* p's types alone */
struct sl_p { int y; };
