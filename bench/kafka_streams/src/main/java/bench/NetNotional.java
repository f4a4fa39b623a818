package bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The Kafka Streams peer of the benchmark: net notional per (fund type, sector, week) in a state store.
 *
 * <p>The input is the benchmark's trades topic, JSON values, one trade per message or envelopes (JSON
 * arrays) of trades of one fund, keyed by fund. Each trade becomes (fund type|sector|week Friday, signed
 * notional: + buy_long and buy_to_cover, - sell_long and sell_short), the monitor's {@code net_buying}
 * and its week (Monday to the Friday 16:00 close, US/Eastern); an envelope is summed per key first, as
 * the monitor folds a batch. The stream is re-keyed, so Kafka Streams repartitions it through
 * {@code <application.id>-by-scope-repartition}, and reduced by sum into the persistent (RocksDB) store
 * {@code net-notional} with its changelog; exactly-once v2, one stream thread, the other settings Kafka's
 * defaults (commit every 100 ms under exactly-once). The benchmark times it from outside, by the
 * offsets the application's group commits.
 *
 * <p>{@code java -cp ... bench.NetNotional BOOTSTRAP TOPIC APPLICATION_ID STATE_DIR [GUARANTEE]}
 */
public final class NetNotional {
  private static final ZoneId EASTERN = ZoneId.of("America/New_York");
  private static final LocalTime CLOSE = LocalTime.of(16, 0);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The week's Friday per hour of epoch time: weeks change only on a whole hour (as the monitor caches). */
  private static final Map<Long, String> WEEK_OF_HOUR = new HashMap<>();

  private NetNotional() {}

  static String week(String ts) {
    long epoch = OffsetDateTime.parse(ts).toEpochSecond();
    return WEEK_OF_HOUR.computeIfAbsent(Math.floorDiv(epoch, 3600L), hour -> {
      ZonedDateTime local = Instant.ofEpochSecond(hour * 3600L).atZone(EASTERN);
      LocalDate day = local.toLocalDate();
      int weekday = day.getDayOfWeek().getValue() - 1; // Monday 0 .. Sunday 6
      LocalDate friday = day.plusDays(4 - weekday);
      if (weekday > 4 || (weekday == 4 && !local.toLocalTime().isBefore(CLOSE))) {
        friday = friday.plusDays(7);
      }
      return friday.toString();
    });
  }

  static double signed(JsonNode trade) {
    double notional = trade.get("notional").asDouble();
    switch (trade.get("action").asText()) {
      case "buy_long":
      case "buy_to_cover":
        return notional;
      default: // sell_long, sell_short
        return -notional;
    }
  }

  static String scope(JsonNode trade) {
    return trade.get("fund_type").asText() + "|" + trade.get("sector").asText() + "|" + week(trade.get("ts").asText());
  }

  /** The (scope, signed notional) records of one message: one for a trade, one per scope of an envelope. */
  static List<KeyValue<String, Double>> flows(byte[] value) {
    JsonNode node;
    try {
      node = JSON.readTree(value);
    } catch (IOException e) {
      return List.of(); // the benchmark sends only valid JSON
    }
    if (!node.isArray()) {
      return List.of(KeyValue.pair(scope(node), signed(node)));
    }
    Map<String, Double> sums = new LinkedHashMap<>();
    for (JsonNode trade : node) {
      sums.merge(scope(trade), signed(trade), Double::sum);
    }
    List<KeyValue<String, Double>> out = new ArrayList<>(sums.size());
    sums.forEach((k, v) -> out.add(KeyValue.pair(k, v)));
    return out;
  }

  public static void main(String[] args) throws InterruptedException {
    String bootstrap = args[0];
    String topic = args[1];
    String applicationId = args[2];
    String stateDir = args[3];
    String guarantee = args.length > 4 ? args[4] : StreamsConfig.EXACTLY_ONCE_V2;

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(topic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
        .flatMap((key, value) -> flows(value))
        .groupByKey(Grouped.with("by-scope", Serdes.String(), Serdes.Double()))
        .reduce(Double::sum, Materialized.<String, Double, KeyValueStore<Bytes, byte[]>>as("net-notional"));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(10));
      stopped.countDown();
    }));
    streams.setUncaughtExceptionHandler(e -> {
      e.printStackTrace();
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_APPLICATION;
    });
    streams.start();
    System.out.println("started " + applicationId);
    stopped.await();
  }
}
