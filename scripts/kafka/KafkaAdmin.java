// The admin calls scripts/kafka/broker.sh needs, through Kafka's own Admin client:
//
//   java -cp "libs/*:probe" KafkaAdmin await BOOTSTRAP BROKERS TIMEOUT_SECONDS
//       readiness: waits until a metadata call lists BROKERS brokers and an active controller;
//       exit 0 ready, 1 not ready in time.
//   java -cp "libs/*:probe" KafkaAdmin create BOOTSTRAP PARTITIONS TOPIC...
//       creates the topics (replication: up to 3, as many as there are brokers); existing
//       topics are left as they are.
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

public class KafkaAdmin {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
        try (Admin admin = Admin.create(props)) {
            switch (args[0]) {
                case "await" -> await(admin, args[1], Integer.parseInt(args[2]), Long.parseLong(args[3]));
                case "create" -> create(admin, Integer.parseInt(args[2]), List.of(args).subList(3, args.length));
                default -> {
                    System.err.println("usage: KafkaAdmin await|create ...");
                    System.exit(2);
                }
            }
        }
    }

    static void await(Admin admin, String bootstrap, int brokers, long timeoutSeconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            try {
                DescribeClusterResult cluster = admin.describeCluster(new DescribeClusterOptions().timeoutMs(2000));
                int seen = cluster.nodes().get().size();
                boolean controller = cluster.controller().get() != null;
                if (seen >= brokers && controller) {
                    return;
                }
                last = seen + " of " + brokers + " brokers";
            } catch (Exception e) {
                last = e.getClass().getSimpleName();
            }
            Thread.sleep(100);
        }
        System.err.println("error: the cluster at " + bootstrap + " is not ready: " + last);
        System.exit(1);
    }

    static void create(Admin admin, int partitions, List<String> names) throws Exception {
        int brokers = admin.describeCluster().nodes().get().size();
        short replication = (short) Math.min(3, brokers);
        List<NewTopic> topics = new ArrayList<>();
        for (String name : names) {
            topics.add(new NewTopic(name, Optional.of(partitions), Optional.of(replication)));
        }
        for (var entry : admin.createTopics(topics).values().entrySet()) {
            try {
                entry.getValue().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
        }
    }
}
