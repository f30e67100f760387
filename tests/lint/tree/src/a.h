/* core */
struct sl_a;
