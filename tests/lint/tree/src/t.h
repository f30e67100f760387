/* top */
struct sl_t;
